import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeRedis } from '../redis.ts';
import type { ChatEvent } from './types.ts';

export type { ChatEvent, MessageView } from './types.ts';

/**
 * Sessions that ended before their time (logout, passphrase change). `sessionIds`: exactly these;
 * `userId` alone: some of that user's sessions — each node asks the database which are still live.
 */
export type SessionsRevoked = { sessionIds: string[] } | { userId: string };

export interface HubListener {
  /** `raw`: the JSON the event arrived as, to send on without serialising again. */
  onEvent(event: ChatEvent, raw?: string): void;
  onSessionsRevoked(revoked: SessionsRevoked): void;
  /**
   * The subscription is (again) in place after a connection to Redis was lost: whatever was
   * published in between was missed, so the listener catches up from PostgreSQL.
   */
  onResubscribed(): void;
  /** A publish from this node failed: other nodes missed it, this node's sockets must not. */
  onPublishFailed(event: ChatEvent): void;
}

/**
 * Something that must hear every session revocation while it trusts what it remembers (the
 * session cache): told when the revocation channel is up, when it drops, and of each revocation.
 */
export interface RevocationWatcher {
  forget(revoked: SessionsRevoked): void;
  channelUp(): void;
  channelDown(): void;
}

/**
 * Fan-out between API nodes over Redis pub/sub. Events carry ciphertext and ids, never plaintext;
 * pub/sub keeps nothing, and a node that misses an event is caught up from PostgreSQL by seq.
 */
export class ChatEvents {
  private readonly channel: string;
  private readonly sessionChannel: string;
  private readonly listeners = new Set<HubListener>();
  private readonly watchers = new Set<RevocationWatcher>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}:chat-events`;
    this.sessionChannel = `${prefix}:session-events`;
  }

  async publish(event: ChatEvent): Promise<void> {
    try {
      await this.redis.publish(this.channel, JSON.stringify(event));
    } catch (err) {
      // The write is committed; this node's sockets catch up from PostgreSQL now, other nodes'
      // when their own subscription comes back (a Redis outage drops it too).
      this.logger.warn(
        { err: { message: (err as Error).message }, event: event.type },
        'could not publish chat event',
      );
      for (const l of this.listeners) l.onPublishFailed(event);
    }
  }

  /**
   * Several events in one round trip (a pipeline), delivered in this order. Each one that could
   * not be published is handled as by `publish`.
   */
  async publishMany(events: readonly ChatEvent[]): Promise<void> {
    if (events.length === 1) return this.publish(events[0]!);
    const pipeline = this.redis.pipeline();
    for (const e of events) pipeline.publish(this.channel, JSON.stringify(e));
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      results = events.map(() => [err as Error, null]);
    }
    const failed = events.filter((_, i) => !results || results[i]?.[0]);
    if (failed.length === 0) return;
    const why = results?.find((r) => r[0])?.[0]?.message ?? 'no reply';
    this.logger.warn(
      { err: { message: why }, events: failed.length },
      'could not publish chat events',
    );
    for (const e of failed) for (const l of this.listeners) l.onPublishFailed(e);
  }

  /**
   * Ends the sockets of revoked sessions on every node: this node's at once (even with Redis
   * down), the others' through pub/sub. Called by the auth side after the revocation committed.
   */
  async publishSessionsRevoked(revoked: SessionsRevoked): Promise<void> {
    for (const l of this.listeners) l.onSessionsRevoked(revoked);
    try {
      await this.redis.publish(this.sessionChannel, JSON.stringify(revoked));
    } catch (err) {
      // Other nodes still re-check every session when their subscription returns and each heartbeat.
      this.logger.warn(
        { err: { message: (err as Error).message } },
        'could not publish session revocation',
      );
    }
  }

  /**
   * `w` hears of revocations through the next subscription (`subscribe`), and of that
   * subscription's state: up once Redis confirmed it, down from the moment its connection drops.
   */
  watchRevocations(w: RevocationWatcher): void {
    this.watchers.add(w);
  }

  /** Subscribes on a dedicated connection; returns the unsubscribe function. */
  async subscribe(listener: HubListener): Promise<() => Promise<void>> {
    const sub = this.redis.duplicate();
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, payload: string) => {
      try {
        if (channel === this.channel) listener.onEvent(JSON.parse(payload) as ChatEvent, payload);
        else if (channel === this.sessionChannel) {
          const revoked = JSON.parse(payload) as SessionsRevoked;
          for (const w of this.watchers) w.forget(revoked);
          listener.onSessionsRevoked(revoked);
        }
      } catch (err) {
        this.logger.error({ err: { message: (err as Error).message } }, 'bad chat event');
      }
    });
    try {
      await sub.subscribe(this.channel, this.sessionChannel);
    } catch (err) {
      // Redis down at start: the caller retries; this connection must not linger reconnecting.
      sub.disconnect();
      throw err;
    }
    // ioredis re-subscribes by itself after a reconnect; `ready` fires once that is done.
    let lost = false;
    let closed = false;
    for (const w of this.watchers) w.channelUp();
    sub.on('close', () => {
      lost = true;
      for (const w of this.watchers) w.channelDown();
    });
    sub.on('ready', () => {
      if (!lost) return;
      // Wait for Redis to confirm the subscription before catching up, so that anything
      // committed after the catch-up's read is published to a channel we already listen on.
      sub.subscribe(this.channel, this.sessionChannel).then(
        () => {
          lost = false;
          if (!closed) for (const w of this.watchers) w.channelUp();
          listener.onResubscribed();
        },
        (err: Error) =>
          this.logger.warn({ err: { message: err.message } }, 'could not re-subscribe'),
      );
    });
    this.listeners.add(listener);
    return async () => {
      closed = true;
      this.listeners.delete(listener);
      for (const w of this.watchers) w.channelDown();
      await closeRedis(sub);
    };
  }
}
