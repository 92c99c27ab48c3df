/**
 * The chat wire types, shared by the server and the browser-safe SDK (types only, no runtime).
 */
import type { MembershipEntryJson } from '../crypto/membership.ts';

export type { MembershipEntryJson };

/** What a member's client sees of a message: ciphertext and public metadata only. */
export interface MessageView {
  id: string;
  chatId: string;
  seq: number;
  senderId: string | null;
  senderAgent: string | null;
  epoch: number;
  ciphertext: string | null;
  signature: string | null;
  /** The sender's chain position: random per-device chain id, counter, previous hash (base64). */
  chain: { id: string; counter: number; prev: string } | null;
  /** Present once deleted: the sender's signed tombstone (base64). */
  tombstone: string | null;
  mentions: string[];
  decryptionPermissions: Record<string, unknown>;
  createdAt: string;
  deletedAt: string | null;
}

export type ChatEvent =
  | { type: 'message.created'; chatId: string; message: MessageView }
  | { type: 'message.deleted'; chatId: string; messageId: string; seq: number }
  | {
      type: 'member.changed';
      chatId: string;
      userId: string;
      change: 'added' | 'removed';
      by: string;
      epoch: number;
      /** The chat's last seq when the change committed: a new member's live cursor. */
      lastSeq: number;
    }
  | { type: 'key.rotated'; chatId: string; epoch: number; by: string }
  | { type: 'typing'; chatId: string; userId: string }
  | AgentStatusEvent;

/** Progress of an agent run a mention started (published by the worker; see docs/API.md). */
export interface AgentStatusEvent {
  type: 'agent.status';
  chatId: string;
  agentName: string;
  /** The outbox row id: one per (message, agent). */
  runId: string;
  /** The message that mentioned the agent. */
  messageId: string;
  status: 'queued' | 'thinking' | 'tool' | 'done' | 'failed';
  /** With `tool`: which tool the model called. */
  tool?: string;
  /** With `failed`: a stable code and a sentence for people. */
  code?: string;
  reason?: string;
  /** With `done`: the reply's message id. */
  replyId?: string;
  at: string;
}

/** A chat as its members see it (server's view: clients trust the membership log instead). */
export interface ChatView {
  id: string;
  kind: 'direct' | 'group';
  titleEncrypted: string | null;
  createdBy: string;
  currentEpoch: number;
  lastSeq: number;
  /** Number of membership-log entries. */
  logLength: number;
  createdAt: string;
  members: { userId: string; role: string; joinedEpoch: number }[];
  /** People who were members once: their old key wraps stay valid for the epochs they made. */
  formerMembers: { userId: string; removedAt: string }[];
}

export interface KeyWrapView {
  epoch: number;
  wrap: string;
  wrappedBy: string;
}
