import type { Logger } from 'pino';
import type { ChatEvent, ChatEvents, HubListener, MessageView, SessionsRevoked } from './events.ts';
import {
  type ChatState,
  CLOSE,
  type Conn,
  type HubChats,
  type HubOptions,
  type LiveSessions,
  type Socket,
} from './hub.types.ts';

export type { Conn, HubChats, HubOptions, LiveSessions, Socket };
export { CLOSE };

/** setTimeout's ceiling (~24.8 days); later expiries are left to the heartbeat's session check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const REPLAY_PAGE = 200;
const CATCH_UP_CONCURRENCY = 4;

/**
 * Delivers chat events to this node's WebSockets. Per connection and chat it keeps the last seq
 * sent: older events are dropped, a jump is filled from PostgreSQL first. Resume cursors and
 * out-of-order pub/sub therefore both yield every message exactly once, in seq order.
 */
export class ChatHub implements HubListener {
  private readonly conns = new Set<Conn>();
  private readonly byChat = new Map<string, Set<Conn>>();
  private readonly byUser = new Map<string, Set<Conn>>();
  private readonly bySession = new Map<string, Set<Conn>>();
  /** One catch-up of every connected chat at a time; a request meanwhile runs one more after it. */
  private catchingUp: Promise<void> | undefined;
  private catchUpAgain = false;
  private nextId = 1;
  /** In-flight gap fills, shared by every connection missing the same range of a chat. */
  private readonly gapFills = new Map<string, Promise<MessageView[]>>();
  private heartbeat: NodeJS.Timeout | undefined;
  /** Sockets corked during this tick, flushed together right after it (see `sendRaw`). */
  private corked: { uncork(): void }[] = [];
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly chats: HubChats,
    private readonly events: ChatEvents,
    private readonly sessions: LiveSessions,
    private readonly logger: Logger,
    private readonly opts: HubOptions,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.events.subscribe(this);
    this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const conn of [...this.conns]) this.drop(conn, CLOSE.goingAway, 'server shutting down');
    await this.unsubscribe?.();
    await this.catchingUp;
  }

  get size(): number {
    return this.conns.size;
  }

  /**
   * Registers an authenticated socket for all of the user's chats; `cursors` replays what it
   * missed. Refuses (4029, `undefined`) a user already at the per-user socket cap.
   */
  async attach(
    who: { userId: string; sessionId: string; expiresAt?: Date },
    socket: Socket,
    cursors: ReadonlyMap<string, number> = new Map(),
  ): Promise<Conn | undefined> {
    const { userId, sessionId } = who;
    if ((this.byUser.get(userId)?.size ?? 0) >= this.opts.maxSocketsPerUser) {
      socket.close(
        CLOSE.tooManySockets,
        `too many connections: at most ${this.opts.maxSocketsPerUser} per user`,
      );
      return undefined;
    }
    const conn: Conn = {
      id: this.nextId++,
      userId,
      sessionId,
      socket,
      chats: new Map(),
      alive: true,
      closed: false,
      lastTyping: 0,
      expiry: undefined,
    };
    this.conns.add(conn);
    this.index(this.byUser, userId, conn);
    this.index(this.bySession, sessionId, conn);
    const ttl = who.expiresAt ? who.expiresAt.getTime() - Date.now() : Number.POSITIVE_INFINITY;
    if (ttl <= MAX_TIMER_MS) {
      conn.expiry = setTimeout(() => this.drop(conn, CLOSE.unauthorized, 'session expired'), ttl);
      conn.expiry.unref();
    }
    const chats = await this.chats.chatIdsOf(userId);
    for (const chat of chats) this.follow(conn, chat.id, cursors.get(chat.id) ?? chat.lastSeq);
    this.send(conn, { type: 'ready', userId, chats: chats.map((c) => c.id) });
    // A message committed between the read above and `follow` may have been published before we
    // listened: read again now that we listen, and catch up wherever the database is ahead.
    await this.catchUpUser(userId, [conn]);
    return conn;
  }

  detach(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    clearTimeout(conn.expiry);
    this.conns.delete(conn);
    this.unindex(this.byUser, conn.userId, conn);
    this.unindex(this.bySession, conn.sessionId, conn);
    for (const chatId of conn.chats.keys()) this.unindex(this.byChat, chatId, conn);
    conn.chats.clear();
  }

  /** Logout or passphrase change committed (on this node or another): end those sockets now. */
  onSessionsRevoked(revoked: SessionsRevoked): void {
    if ('sessionIds' in revoked) {
      for (const id of revoked.sessionIds)
        for (const conn of [...(this.bySession.get(id) ?? [])])
          this.drop(conn, CLOSE.unauthorized, 'session ended');
      return;
    }
    const conns = [...(this.byUser.get(revoked.userId) ?? [])];
    this.revalidate(conns).catch((err: Error) =>
      this.logger.warn({ err: { message: err.message } }, 'websocket session check failed'),
    );
  }

  /** Events published while the subscription was down were missed: catch up from PostgreSQL. */
  onResubscribed(): void {
    this.logger.info({ sockets: this.conns.size }, 'chat events resubscribed: catching up');
    this.revalidate().catch((err: Error) =>
      this.logger.warn({ err: { message: err.message } }, 'websocket session check failed'),
    );
    this.requestCatchUp();
  }

  /** Our own publish failed: deliver it here anyway, and catch up everything else we may miss. */
  onPublishFailed(event: ChatEvent): void {
    this.onEvent(event);
    this.requestCatchUp();
  }

  private requestCatchUp(): void {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = this.catchUpAll()
      .catch((err: Error) =>
        this.logger.warn({ err: { message: err.message } }, 'websocket catch-up failed'),
      )
      .finally(() => {
        this.catchingUp = undefined;
        if (this.catchUpAgain) {
          this.catchUpAgain = false;
          this.requestCatchUp();
        }
      });
  }

  /** Every connected user's chats, compared with what each socket has had. */
  private async catchUpAll(): Promise<void> {
    const users = [...this.byUser.keys()];
    // A few users at a time: quick for a node with many sockets, gentle on the pool.
    for (let i = 0; i < users.length; i += CATCH_UP_CONCURRENCY) {
      const done = await Promise.allSettled(
        users
          .slice(i, i + CATCH_UP_CONCURRENCY)
          .map((userId) =>
            this.catchUpUser(userId, [...(this.byUser.get(userId) ?? [])], { resync: true }),
          ),
      );
      // One user's failure (e.g. a dropped connection) does not leave the others behind.
      for (const d of done)
        if (d.status === 'rejected')
          this.logger.warn({ err: { message: (d.reason as Error).message } }, 'catch-up failed');
    }
  }

  /**
   * Reads the user's chats once and, per socket, queues a replay of every chat where PostgreSQL
   * is ahead. `resync` also applies membership changes whose events may have been missed.
   */
  private async catchUpUser(
    userId: string,
    conns: Conn[],
    opts: { resync?: boolean } = {},
  ): Promise<void> {
    if (conns.length === 0) return;
    const chats = await this.chats.chatIdsOf(userId);
    for (const conn of conns) {
      if (conn.closed) continue;
      if (opts.resync) {
        const current = new Set(chats.map((c) => c.id));
        for (const chatId of [...conn.chats.keys()])
          if (!current.has(chatId)) this.unfollow(conn, chatId);
        // Joined while we were deaf: live from now on; earlier messages are in history.
        for (const chat of chats) this.follow(conn, chat.id, chat.lastSeq);
      }
      for (const chat of chats) {
        const state = conn.chats.get(chat.id);
        if (state && chat.lastSeq > state.lastSeq)
          this.enqueue(conn, chat.id, () => this.catchUp(conn, chat.id));
      }
    }
  }

  pong(conn: Conn): void {
    conn.alive = true;
  }

  /** A client says it is typing; members' other connections hear it (at most once a second). */
  async typing(conn: Conn, chatId: string): Promise<boolean> {
    if (!conn.chats.has(chatId)) return false;
    const now = Date.now();
    if (now - conn.lastTyping < 1_000) return true;
    conn.lastTyping = now;
    await this.events.publish({ type: 'typing', chatId, userId: conn.userId });
    return true;
  }

  private follow(conn: Conn, chatId: string, lastSeq: number): void {
    // A socket that closed while `attach` awaited the database must not be indexed again.
    if (conn.closed || conn.chats.has(chatId)) return;
    conn.chats.set(chatId, { lastSeq, queue: Promise.resolve(), pending: 0 });
    this.index(this.byChat, chatId, conn);
  }

  private unfollow(conn: Conn, chatId: string): void {
    conn.chats.delete(chatId);
    this.unindex(this.byChat, chatId, conn);
  }

  /** `raw`: the event as it came off the wire, sent on as is instead of serialised again. */
  onEvent(e: ChatEvent, raw?: string): void {
    const members = [...(this.byChat.get(e.chatId) ?? [])];
    // Serialised once for every socket, not once per socket.
    const json = raw ?? JSON.stringify(e);
    switch (e.type) {
      case 'message.created': {
        for (const conn of members) {
          const state = conn.chats.get(e.chatId);
          if (!state) continue;
          // The common case: nothing queued and the next seq, so no promise, no database.
          if (state.pending === 0 && e.message.seq <= state.lastSeq + 1)
            this.sendMessage(conn, state, e.message, json);
          else
            this.enqueue(conn, e.chatId, () =>
              this.deliverMessage(conn, e.chatId, e.message, json),
            );
        }
        return;
      }
      case 'typing': {
        for (const conn of members) if (conn.userId !== e.userId) this.sendRaw(conn, json);
        return;
      }
      case 'member.changed': {
        const affected = [...(this.byUser.get(e.userId) ?? [])];
        for (const conn of new Set([...members, ...affected])) this.sendRaw(conn, json);
        for (const conn of affected) {
          if (e.change === 'added') this.follow(conn, e.chatId, e.lastSeq);
          else this.unfollow(conn, e.chatId);
        }
        return;
      }
      default: {
        for (const conn of members) this.sendRaw(conn, json);
      }
    }
  }

  private enqueue(conn: Conn, chatId: string, task: () => Promise<void>): void {
    const state = conn.chats.get(chatId);
    if (!state) return;
    state.pending++;
    state.queue = state.queue
      .then(() => (conn.closed || !conn.chats.has(chatId) ? undefined : task()))
      .catch((err: Error) => {
        this.logger.warn({ err: { message: err.message }, conn: conn.id }, 'chat delivery failed');
      })
      .finally(() => {
        state.pending--;
      });
  }

  private async deliverMessage(
    conn: Conn,
    chatId: string,
    message: MessageView,
    json: string,
  ): Promise<void> {
    const state = conn.chats.get(chatId);
    if (!state || message.seq <= state.lastSeq) return;
    if (message.seq > state.lastSeq + 1) {
      // Publishes can arrive out of seq order (concurrent posts, several nodes); everything
      // below a committed seq is already committed, so the database fills the gap.
      for (const missed of await this.fillGap(chatId, state.lastSeq, message.seq)) {
        if (!this.sendMessage(conn, state, missed)) return;
      }
    }
    this.sendMessage(conn, state, message, json);
  }

  private fillGap(chatId: string, afterSeq: number, beforeSeq: number): Promise<MessageView[]> {
    const key = `${chatId}:${afterSeq}:${beforeSeq}`;
    let fill = this.gapFills.get(key);
    if (!fill) {
      fill = this.chats
        .between(chatId, afterSeq, beforeSeq)
        .finally(() => this.gapFills.delete(key));
      this.gapFills.set(key, fill);
    }
    return fill;
  }

  private async catchUp(conn: Conn, chatId: string): Promise<void> {
    for (;;) {
      const state = conn.chats.get(chatId);
      if (!state || conn.closed) return;
      const page = await this.chats.history(
        chatId,
        conn.userId,
        { after: state.lastSeq },
        REPLAY_PAGE,
      );
      for (const m of page) if (!this.sendMessage(conn, state, m)) return;
      if (page.length < REPLAY_PAGE) return;
    }
  }

  private sendMessage(conn: Conn, state: ChatState, message: MessageView, json?: string): boolean {
    if (message.seq <= state.lastSeq) return true;
    state.lastSeq = message.seq;
    return this.sendRaw(
      conn,
      json ?? JSON.stringify({ type: 'message.created', chatId: message.chatId, message }),
    );
  }

  send(conn: Conn, frame: object): boolean {
    return this.sendRaw(conn, JSON.stringify(frame));
  }

  /** Sends one frame, or cuts off a client that is not reading (rather than buffering without bound). */
  private sendRaw(conn: Conn, json: string): boolean {
    if (conn.closed) return false;
    if (conn.socket.bufferedAmount > this.opts.maxBufferedBytes) {
      this.logger.warn(
        { conn: conn.id, buffered: conn.socket.bufferedAmount },
        'slow websocket consumer cut off',
      );
      this.drop(conn, CLOSE.slowConsumer, 'slow consumer: too many undelivered events');
      return false;
    }
    try {
      this.corkForTick(conn.socket);
      conn.socket.send(json);
      return true;
    } catch {
      this.detach(conn);
      return false;
    }
  }

  /**
   * Frames sent to one socket within one tick (a pipeline of events read from Redis at once)
   * leave in one write instead of one each: the underlying TCP socket of a `ws` WebSocket is
   * corked until the tick ends. Sockets without one (tests' fakes) are written as they are.
   */
  private corkForTick(socket: Socket): void {
    const tcp = (socket as { _socket?: { cork?: () => void; uncork?: () => void } })._socket;
    if (typeof tcp?.cork !== 'function' || typeof tcp.uncork !== 'function') return;
    if ((tcp as { writableCorked?: number }).writableCorked) return;
    tcp.cork();
    const first = this.corked.length === 0;
    this.corked.push(tcp as { uncork(): void });
    if (first)
      process.nextTick(() => {
        const all = this.corked;
        this.corked = [];
        for (const t of all) t.uncork();
      });
  }

  drop(conn: Conn, code: number, reason: string): void {
    this.detach(conn);
    try {
      conn.socket.close(code, reason);
    } catch {
      conn.socket.terminate();
    }
    // A peer that never completes the closing handshake is not kept around.
    setTimeout(() => conn.socket.terminate(), 5_000).unref();
  }

  private beat(): void {
    for (const conn of [...this.conns]) {
      if (!conn.alive) {
        this.drop(conn, CLOSE.idle, 'no heartbeat');
        continue;
      }
      conn.alive = false;
      try {
        conn.socket.ping();
      } catch {
        this.detach(conn);
      }
    }
    this.revalidate().catch((err: Error) =>
      this.logger.warn({ err: { message: err.message } }, 'websocket session check failed'),
    );
  }

  /** Sockets whose session is no longer live (expired, revoked, missed revocation) are closed. */
  async revalidate(conns: Conn[] = [...this.conns]): Promise<void> {
    if (conns.length === 0) return;
    const live = await this.sessions.liveSessionIds([...new Set(conns.map((c) => c.sessionId))]);
    for (const conn of conns) {
      if (!live.has(conn.sessionId)) this.drop(conn, CLOSE.unauthorized, 'session ended');
    }
  }

  private index(map: Map<string, Set<Conn>>, key: string, conn: Conn): void {
    const set = map.get(key) ?? new Set<Conn>();
    map.set(key, set);
    set.add(conn);
  }

  private unindex(map: Map<string, Set<Conn>>, key: string, conn: Conn): void {
    const set = map.get(key);
    set?.delete(conn);
    if (set?.size === 0) map.delete(key);
  }
}
