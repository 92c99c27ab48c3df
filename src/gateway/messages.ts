/**
 * Every message the gateway seals or opens goes through this file: the header (sender
 * descriptor, chain position, mentions, policy) is rebuilt here from a stored row exactly as its
 * sender signed it, and an agent's own messages get their chain here.
 */
import { createHash } from 'node:crypto';
import type { Bytes } from '../crypto/bytes.ts';
import type { ChatKey } from '../crypto/chatkeys.ts';
import type { GatewayKeys } from '../crypto/grants.ts';
import {
  type AgentPolicy,
  CHAIN_ID_BYTES,
  type MessageBody,
  type MessageHeader,
  messageHash,
  openMessageBody,
  openMessageBodySync,
  type SealedMessage,
  type SenderDescriptor,
  sealMessage,
} from '../crypto/messages.ts';

export interface StoredMessage {
  id: string;
  senderId: string | null;
  senderAgent: string | null;
  encryptedContent: Uint8Array | null;
  signature: Uint8Array | null;
  chain: { id: Uint8Array; counter: number; prev: Uint8Array } | null;
  mentions: string[];
  decryptionPermissions: unknown;
  deleted: boolean;
}

/**
 * The sender's per-message policy. `{}` / `{"agents":"allow"}`: readable by granted agents;
 * `{"agents":"deny"}`: by none; `{"agents":["claude"]}`: only those names. Anything else reads as
 * deny, so a policy this version does not understand never leaks.
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
export function signerOf(m: StoredMessage): SenderDescriptor | undefined {
  if (!m.senderId) return undefined;
  if (m.senderAgent) return { kind: 'agent', agentName: m.senderAgent, onBehalfOf: m.senderId };
  return { kind: 'user', userId: m.senderId };
}

function openParams(m: StoredMessage, key: ChatKey, senderEd25519PublicKey: Uint8Array) {
  const sender = signerOf(m);
  if (!sender || !m.encryptedContent || !m.signature || !m.chain)
    throw new Error('message has no content');
  const header: Omit<MessageHeader, 'chatId' | 'epoch'> = {
    messageId: m.id,
    sender,
    chain: { chainId: m.chain.id, counter: m.chain.counter, prev: m.chain.prev },
    mentions: m.mentions,
    decryptionPermissions: m.decryptionPermissions as AgentPolicy,
  };
  return {
    chatKey: key,
    header,
    encryptedContent: m.encryptedContent,
    signature: m.signature,
    signerEd25519PublicKey: senderEd25519PublicKey,
  };
}

/**
 * Verifies the sender's signature over the stored header and decrypts with a granted key. The
 * gateway follows no sender's chain, so it skips the message hash (openMessage's extra). Throws
 * for a message that does not verify or decrypt.
 */
export function openStored(
  m: StoredMessage,
  key: ChatKey,
  senderEd25519PublicKey: Uint8Array,
): Promise<MessageBody> {
  try {
    return openMessageBody(openParams(m, key, senderEd25519PublicKey));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * `openStored` without a promise when the server's synchronous crypto hooks are installed (one
 * verify and one decryption, no job to wait for); `undefined` when they are not.
 */
export function openStoredSync(
  m: StoredMessage,
  key: ChatKey,
  senderEd25519PublicKey: Uint8Array,
): MessageBody | undefined {
  return openMessageBodySync(openParams(m, key, senderEd25519PublicKey));
}

/**
 * One chain per (owner, agent) across every API node: its id is derived, its position is the
 * last message of that chain in the chat (the caller reads it).
 */
export function agentChainId(ownerId: string, agentName: string): Bytes {
  const digest = createHash('sha256')
    .update(`vutler/v1/gateway-chain\0${ownerId.toLowerCase()}\0${agentName}`)
    .digest();
  return new Uint8Array(digest.subarray(0, CHAIN_ID_BYTES));
}

/** The agent chain's next position after `last` (its latest message in the chat, if any). */
export async function nextAgentLink(
  chainId: Uint8Array,
  last: { counter: number; signature: Uint8Array } | undefined,
): Promise<{ id: Uint8Array; counter: number; prev: Uint8Array }> {
  if (!last) return { id: chainId, counter: 0, prev: new Uint8Array(32) };
  return { id: chainId, counter: last.counter + 1, prev: await messageHash(last.signature) };
}

/** Encrypts an agent's message under the granted key and signs it with the gateway's key. */
export function sealAsAgent(p: {
  chatKey: ChatKey;
  messageId: string;
  ownerId: string;
  agentName: string;
  chain: { id: Uint8Array; counter: number; prev: Uint8Array };
  text: string;
  replyTo: string | null;
  gateway: GatewayKeys;
}): Promise<SealedMessage> {
  return sealMessage({
    chatKey: p.chatKey,
    header: {
      messageId: p.messageId,
      sender: { kind: 'agent', agentName: p.agentName, onBehalfOf: p.ownerId },
      chain: { chainId: p.chain.id, counter: p.chain.counter, prev: p.chain.prev },
      mentions: [],
      decryptionPermissions: {},
    },
    body: { text: p.text, replyTo: p.replyTo, attachments: [] },
    signingKey: p.gateway.ed25519.privateKey,
  });
}
