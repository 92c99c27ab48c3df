import type { ChatService } from './chat.service.ts';

/**
 * The hub's vocabulary: the transport it writes to, a connection's state, what it asks of other
 * services, and the close codes it uses (documented in docs/API.md).
 */

/** The transport a connection writes to: `ws`'s WebSocket, or anything shaped like it. */
export interface Socket {
  send(data: string): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
  readonly bufferedAmount: number;
}

export interface ChatState {
  /** Highest seq delivered on this connection; -1 until initialised from the database. */
  lastSeq: number;
  /** Deliveries for one chat run one after another, so they stay in seq order. */
  queue: Promise<void>;
  /** Tasks on `queue` not yet finished; at 0 an in-order message is sent at once. */
  pending: number;
}

export interface Conn {
  readonly id: number;
  readonly userId: string;
  /** The session that authenticated the socket; revoking it closes the socket (4401). */
  readonly sessionId: string;
  readonly socket: Socket;
  readonly chats: Map<string, ChatState>;
  alive: boolean;
  closed: boolean;
  lastTyping: number;
  /** Fires when the session expires, so the socket does not outlive it until a heartbeat. */
  expiry: NodeJS.Timeout | undefined;
}

/** Whether sessions are still live: the session service answers, the hub does not read its tables. */
export interface LiveSessions {
  liveSessionIds(ids: string[]): Promise<Set<string>>;
}

/** What the hub asks of the chat service. */
export type HubChats = Pick<ChatService, 'chatIdsOf' | 'between' | 'history'>;

export const CLOSE = {
  unauthorized: 4401,
  badRequest: 4400,
  slowConsumer: 4008,
  goingAway: 1001,
  idle: 4000,
  /** The user already holds `ws.maxSocketsPerUser` sockets on this node. */
  tooManySockets: 4029,
} as const;

export interface HubOptions {
  /** Bytes queued in the kernel/ws buffer above which a client is cut off. */
  maxBufferedBytes: number;
  heartbeatMs: number;
  /** Sockets one user may hold on one node; the next is closed with 4029. */
  maxSocketsPerUser: number;
}
