/**
 * The one place bench/chat seals and signs messages ahead of time (server-side mode). When the
 * message format or its signature input changes, only this file follows it.
 */

import type { VutlerClient } from '../../src/client/index.ts';
import { base64Encode } from '../../src/crypto/bytes.ts';
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
  for (let i = 0; i < count; i++) {
    const id = uuidv7();
    const sealed = await sealMessage({
      chatKey,
      messageId: id,
      senderId: user.id,
      body: { text, replyTo: null, attachments: [] },
      signingKey: identity.ed25519.privateKey,
    });
    out.push({
      id,
      body: JSON.stringify({
        id,
        epoch,
        ciphertext: base64Encode(sealed.encryptedContent),
        signature: base64Encode(sealed.signature),
        mentions: [],
        decryptionPermissions: {},
      }),
    });
  }
  return out;
}
