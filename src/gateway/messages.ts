/**
 * Every message the gateway seals or opens goes through this file, on today's
 * `sealMessage`/`openMessage`: when the message format changes (signed sender chains, mentions and
 * policy inside the signature, key commitment), this is the one file to switch.
 */
import type { ChatKey } from '../crypto/chatkeys.ts';
import { agentSenderId, type GatewayKeys } from '../crypto/grants.ts';
import {
  type MessageBody,
  openMessage,
  type SealedMessage,
  sealMessage,
} from '../crypto/messages.ts';

export interface StoredMessage {
  id: string;
  senderId: string | null;
  senderAgent: string | null;
  encryptedContent: Uint8Array | null;
  signature: Uint8Array | null;
  decryptionPermissions: unknown;
  deleted: boolean;
}

/**
 * The sender's per-message policy. `{}` / `{"agents":"allow"}`: readable by granted agents;
 * `{"agents":"deny"}`: by none; `{"agents":["claude"]}`: only by those names. Anything else is
 * read as deny, so a policy this version does not understand never leaks.
 */
export function withheldFrom(policy: unknown, agentName: string): boolean {
  if (policy === null || policy === undefined) return false;
  if (typeof policy !== 'object' || Array.isArray(policy)) return true;
  const agents = (policy as Record<string, unknown>).agents;
  if (agents === undefined || agents === 'allow') return false;
  if (agents === 'deny') return true;
  if (Array.isArray(agents)) return !agents.includes(agentName);
  return true;
}

/** Who signed a stored message: a person (their identity key) or an agent (the gateway key). */
export function signerOf(
  m: StoredMessage,
): { kind: 'person' | 'agent'; senderId: string } | undefined {
  if (!m.senderId) return undefined;
  if (m.senderAgent) return { kind: 'agent', senderId: agentSenderId(m.senderId, m.senderAgent) };
  return { kind: 'person', senderId: m.senderId };
}

/** Verifies the sender's signature and decrypts one message with a granted epoch key. */
export function openStored(
  m: StoredMessage,
  key: ChatKey,
  senderEd25519PublicKey: Uint8Array,
): Promise<MessageBody> {
  const signer = signerOf(m);
  if (!signer || !m.encryptedContent || !m.signature) throw new Error('message has no content');
  return openMessage({
    chatKey: key,
    messageId: m.id,
    senderId: signer.senderId,
    encryptedContent: m.encryptedContent,
    signature: m.signature,
    senderEd25519PublicKey,
  });
}

/** Encrypts an agent's message under the granted key and signs it with the gateway's key. */
export function sealAsAgent(p: {
  chatKey: ChatKey;
  messageId: string;
  ownerId: string;
  agentName: string;
  text: string;
  replyTo: string | null;
  gateway: GatewayKeys;
}): Promise<SealedMessage> {
  return sealMessage({
    chatKey: p.chatKey,
    messageId: p.messageId,
    senderId: agentSenderId(p.ownerId, p.agentName),
    body: { text: p.text, replyTo: p.replyTo, attachments: [] },
    signingKey: p.gateway.ed25519.privateKey,
  });
}
