/**
 * The one place bench/chat seals and signs messages ahead of time (server-side mode). When the
 * message format or its signature input changes, only this file follows it.
 */

import type { VutlerClient } from '../../src/client/index.ts';
import { base64Encode, randomBytes } from '../../src/crypto/bytes.ts';
import { sealMessage } from '../../src/crypto/messages.ts';
import { uuidv7 } from '../../src/crypto/uuid.ts';

/** A POST /api/chats/:id/messages body, ready to send, and its message id. */
export interface Presealed {
  id: string;
  body: string;
}

/** Seals `count` messages from `client` into `chatId` (current epoch), `text` as their body. */
export async function preseal(
  client: VutlerClient,
  chatId: string,
  epoch: number,
  count: number,
  text: string,
): Promise<Presealed[]> {
  const user = client.user;
  const identity = client.identity;
  if (!user || !identity) throw new Error('preseal: log in with encryption set up first');
  const chatKey = await client.chats.key(chatId, epoch);
  const out: Presealed[] = [];
  // One sender chain per call, in hand-out order (the server checks signatures, not continuity).
  const chainId = randomBytes(16);
  let prev: Uint8Array = new Uint8Array(32);
  for (let i = 0; i < count; i++) {
    const id = uuidv7();
    const chain = { chainId, counter: i, prev };
    const sealed = await sealMessage({
      chatKey,
      header: {
        messageId: id,
        sender: { kind: 'user', userId: user.id },
        chain,
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text, replyTo: null, attachments: [] },
      signingKey: identity.ed25519.privateKey,
    });
    prev = sealed.hash;
    out.push({
      id,
      body: JSON.stringify({
        id,
        epoch,
        ciphertext: base64Encode(sealed.encryptedContent),
        signature: base64Encode(sealed.signature),
        chain: { id: base64Encode(chainId), counter: i, prev: base64Encode(chain.prev) },
        mentions: [],
        decryptionPermissions: {},
      }),
    });
  }
  return out;
}
