import { randomBytes } from 'node:crypto';
import { sealMessage } from '../../src/crypto/messages.ts';
import { uuidv7 } from '../../src/crypto/uuid.ts';
import type { person } from './people.ts';

type Person = Awaited<ReturnType<typeof person>>;

/**
 * A correctly sealed and signed message body, ready to POST, made with the real crypto (each on
 * a fresh chain, counter 0), for tests that talk to the API directly.
 */
export async function sealedPost(
  p: Person,
  chatId: string,
  text: string,
  over: { senderId?: string; epoch?: number; mentions?: string[] } = {},
) {
  const epoch = over.epoch ?? (await p.client.chats.membership(chatId)).epoch;
  const key = await p.client.chats.key(chatId, epoch);
  const id = uuidv7();
  const chain = { chainId: new Uint8Array(randomBytes(16)), counter: 0, prev: new Uint8Array(32) };
  const mentions = over.mentions ?? [];
  const s = await sealMessage({
    chatKey: key,
    header: {
      messageId: id,
      sender: { kind: 'user', userId: over.senderId ?? p.id },
      chain,
      mentions,
      decryptionPermissions: {},
    },
    body: { text, replyTo: null, attachments: [] },
    signingKey: p.client.identity!.ed25519.privateKey,
  });
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  return {
    id,
    epoch,
    ciphertext: b64(s.encryptedContent),
    signature: b64(s.signature),
    chain: { id: b64(chain.chainId), counter: 0, prev: b64(chain.prev) },
    mentions,
  };
}

/** A valid `create` + `add…` log for a chat `creator` makes, committing to `key`. */
export async function creationLog(
  creator: Person,
  others: Person[],
  key: { chatId: string; commitment: Uint8Array },
) {
  const { fingerprintDigest } = await import('../../src/crypto/identity.ts');
  const { membershipEntryHash, membershipEntryToJson, signMembershipEntry, LOG_GENESIS_PREV } =
    await import('../../src/crypto/membership.ts');
  const entries = [];
  let prev: Uint8Array = LOG_GENESIS_PREV;
  for (const [i, p] of [creator, ...others].entries()) {
    const e = await signMembershipEntry(
      {
        chatId: key.chatId,
        position: i,
        epoch: 0,
        action: i === 0 ? 'create' : 'add',
        actorId: creator.id,
        subjectId: p.id,
        subjectFingerprint: await fingerprintDigest(p.client.identityPublic!),
        role: i === 0 ? 'owner' : 'member',
        prevHash: prev,
        keyCommitment: i === 0 ? key.commitment : null,
      },
      creator.client.identity!.ed25519.privateKey,
    );
    prev = await membershipEntryHash(e);
    entries.push(membershipEntryToJson(e));
  }
  return entries;
}
