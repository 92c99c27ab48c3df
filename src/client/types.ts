/** SDK types shared by chat.ts and live.ts (no runtime), so neither imports the other. */
import type { AgentPolicy, MessageBody } from '../crypto/messages.ts';
import type { MessageView } from '../wire/chat.ts';

/**
 * `ok`: decrypted, signed by its sender, who was a member of that epoch per the verified log.
 * `deleted`: the sender's signed tombstone. `tampered`: content gone without a valid tombstone.
 * `rejected`: fails a check (signature, membership, key) — `reason` says which.
 */
export type MessageStatus = 'ok' | 'deleted' | 'no-key' | 'rejected' | 'tampered';

/**
 * Where the message sits in its sender's chain (per device): `in-order`; `gap` (`missing`
 * messages of that sender were never shown before it); `reordered` (served after a later one);
 * `replayed` (the same message or chain position served again); `forked` (its `prev` does not
 * match the previous message of the chain).
 */
export type SequenceStatus = 'in-order' | 'gap' | 'reordered' | 'replayed' | 'forked';

export interface ChatMessage {
  id: string;
  chatId: string;
  seq: number;
  senderId: string | null;
  /**
   * Set when an agent wrote it through the gateway on `senderId`'s behalf: with `status: 'ok'`
   * the signature was checked against this device's pinned gateway key.
   */
  senderAgent: string | null;
  epoch: number;
  createdAt: string;
  mentions: string[];
  /** The sender's signed agent policy: `{ agents: 'deny' }` hides it from every agent. */
  decryptionPermissions: AgentPolicy;
  status: MessageStatus;
  sequence?: SequenceStatus;
  /** With `sequence: 'gap'`: how many of the sender's messages are missing before this one. */
  missing?: number;
  /** Present only when `status` is `ok`: decrypted and signature-checked. */
  body?: MessageBody;
  /** Why a message could not be shown (`rejected` / `no-key` / `tampered`). */
  reason?: string;
}

/** What live.ts needs from the chat client. */
export interface LiveChats {
  open(view: MessageView): Promise<ChatMessage>;
  /** A `key.rotated` event: only a hint to re-fetch and verify the log. */
  hint(chatId: string): void;
}
