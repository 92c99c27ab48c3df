import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
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

export interface ChatEventsOptions {
  /**
   * How long a revocation waits for every node subscribed to `session-events` to confirm it
   * dropped the revoked credentials (0: it does not wait). Default 1000.
   */
  revocationAckMs?: number;
}

const hexId = z.string().regex(/^[0-9a-f]{32}$/);

/**
 * A revocation as it travels on `session-events`: what ended, and — from a revoking node that
 * waits for it — where each receiving node confirms, once its caches dropped the credentials.
 * Flat, so that a node that knows nothing of `ack` still reads the revocation.
 */
const revocationMessage = z.intersection(
  z.union([z.object({ sessionIds: z.array(z.string()) }), z.object({ userId: z.string() })]),
  z.object({ ack: z.object({ nonce: hexId, to: hexId }).optional() }),
);

/** A receiving subscription's confirmation: which revocation, and who confirms (counted once). */
const ackMessage = z.object({ nonce: hexId, from: hexId });

const newId = () => randomBytes(16).toString('hex');

/** Confirmations of one revocation, counted per confirming subscription. */
class Confirmations {
  private readonly from = new Set<string>();
  private needed = Number.POSITIVE_INFINITY;
  private settle!: () => void;
  /** Resolves once `needed` subscriptions confirmed, or at the deadline, whichever is first. */
  readonly settled: Promise<void>;
  private readonly timer: NodeJS.Timeout;

  constructor(waitMs: number) {
    this.settled = new Promise((r) => (this.settle = r));
    this.timer = setTimeout(() => this.settle(), waitMs);
  }

  get count(): number {
    return this.from.size;
  }

  add(from: string): void {
    this.from.add(from);
    if (this.from.size >= this.needed) this.settle();
  }

  /** How many subscriptions received the revocation (PUBLISH's answer). */
  expect(n: number): void {
    this.needed = n;
    if (this.from.size >= n) this.settle();
  }

  done(): void {
    clearTimeout(this.timer);
    this.settle();
  }
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
  private readonly ackPrefix: string;
  /** Where this node's subscriptions hear confirmations of its own revocations. */
  private readonly ackId = newId();
  /** Subscriptions of this node whose Redis confirmed them and that have not dropped since. */
  private hearing = 0;
  /** Revocations of this node waiting for confirmations, by nonce. */
  private readonly waiting = new Map<string, Confirmations>();
  private readonly revocationAckMs: number;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: Logger,
    opts: ChatEventsOptions = {},
  ) {
    this.channel = `${prefix}:chat-events`;
    this.sessionChannel = `${prefix}:session-events`;
    this.ackPrefix = `${prefix}:revocation-acks:`;
    this.revocationAckMs = opts.revocationAckMs ?? 1_000;
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
   * Ends revoked sessions and tokens on every node: this node's at once (even with Redis down),
   * the others' through pub/sub. Called by the auth side after the revocation committed.
   *
   * Resolves once every node subscribed to the channel when it was published has confirmed that
   * its caches dropped the credentials (each confirms right after applying it), so a request any
   * node answers after this returns is checked without them — or after `revocationAckMs` at the
   * latest: a node that does not confirm by then is logged (no ids), and its cache TTL still
   * bounds how long it can honour them.
   */
  async publishSessionsRevoked(revoked: SessionsRevoked): Promise<void> {
    for (const l of this.listeners) l.onSessionsRevoked(revoked);
    const started = Date.now();
    const confirm = this.revocationAckMs > 0 ? await this.awaitConfirmations() : undefined;
    const message = confirm
      ? { ...revoked, ack: { nonce: confirm.nonce, to: confirm.to } }
      : revoked;
    let receivers: number;
    try {
      receivers = await this.redis.publish(this.sessionChannel, JSON.stringify(message));
    } catch (err) {
      await confirm?.close();
      // Other nodes still re-check every session when their subscription returns and each heartbeat.
      this.logger.warn(
        { err: { message: (err as Error).message } },
        'could not publish session revocation',
      );
      return;
    }
    if (!confirm) return;
    try {
      confirm.confirmations.expect(receivers);
      await confirm.confirmations.settled;
      const confirmed = confirm.confirmations.count;
      if (confirmed < receivers)
        this.logger.warn(
          { subscribers: receivers, confirmed, waitedMs: Date.now() - started },
          'not every node confirmed a revocation in time; their session cache TTL bounds it',
        );
    } finally {
      await confirm.close();
    }
  }

  /**
   * Starts collecting confirmations for one revocation: on this node's subscription when it is
   * up, else on a subscription of its own for this revocation (a worker, which has no hub).
   * `undefined` when not even that could subscribe (Redis down): the revocation is then
   * published without asking for confirmations.
   */
  private async awaitConfirmations(): Promise<
    | { nonce: string; to: string; confirmations: Confirmations; close: () => Promise<void> }
    | undefined
  > {
    const nonce = newId();
    const confirmations = new Confirmations(this.revocationAckMs);
    if (this.hearing > 0) {
      this.waiting.set(nonce, confirmations);
      return {
        nonce,
        to: this.ackId,
        confirmations,
        close: async () => {
          confirmations.done();
          this.waiting.delete(nonce);
        },
      };
    }
    // Redis is away: the publish fails too; do not spend the wait on a subscription first.
    if (this.redis.status !== 'ready') {
      confirmations.done();
      return undefined;
    }
    const to = newId();
    const sub = this.redis.duplicate();
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, payload: string) => {
      const ack = parseJson(ackMessage, payload);
      if (ack?.nonce === nonce) confirmations.add(ack.from);
    });
    const close = async () => {
      confirmations.done();
      await closeRedis(sub);
    };
    const subscribed = await Promise.race([
      sub.subscribe(this.ackPrefix + to).then(
        () => true,
        () => false,
      ),
      confirmations.settled.then(() => false),
    ]);
    if (subscribed) return { nonce, to, confirmations, close };
    sub.disconnect();
    confirmations.done();
    this.logger.warn('could not listen for revocation confirmations; not waiting for them');
    return undefined;
  }

  /** A revocation heard on `session-events`: forgotten here, then confirmed if asked. */
  private onRevocation(listener: HubListener, subId: string, payload: string): void {
    const msg = parseJson(revocationMessage, payload);
    if (!msg) {
      this.logger.error('bad session revocation');
      return;
    }
    const { ack, ...rest } = msg;
    const revoked: SessionsRevoked =
      'sessionIds' in rest ? { sessionIds: rest.sessionIds } : { userId: rest.userId };
    for (const w of this.watchers) w.forget(revoked);
    try {
      listener.onSessionsRevoked(revoked);
    } finally {
      if (ack)
        this.redis
          .publish(this.ackPrefix + ack.to, JSON.stringify({ nonce: ack.nonce, from: subId }))
          .catch((err: Error) =>
            this.logger.warn(
              { err: { message: err.message } },
              'could not confirm a session revocation',
            ),
          );
    }
  }

  /** A confirmation of one of this node's revocations. */
  private onConfirmation(payload: string): void {
    const ack = parseJson(ackMessage, payload);
    if (ack) this.waiting.get(ack.nonce)?.add(ack.from);
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
    const subId = newId();
    const ackChannel = this.ackPrefix + this.ackId;
    const channels = [this.channel, this.sessionChannel, ackChannel];
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, payload: string) => {
      try {
        if (channel === this.channel) listener.onEvent(JSON.parse(payload) as ChatEvent, payload);
        else if (channel === this.sessionChannel) this.onRevocation(listener, subId, payload);
        else if (channel === ackChannel) this.onConfirmation(payload);
      } catch (err) {
        this.logger.error({ err: { message: (err as Error).message } }, 'bad chat event');
      }
    });
    try {
      await sub.subscribe(...channels);
    } catch (err) {
      // Redis down at start: the caller retries; this connection must not linger reconnecting.
      sub.disconnect();
      throw err;
    }
    // ioredis re-subscribes by itself after a reconnect; `ready` fires once that is done.
    let lost = false;
    let closed = false;
    /** Whether this subscription counts in `hearing`. */
    let counted = true;
    this.hearing++;
    const uncount = () => {
      if (counted) this.hearing--;
      counted = false;
    };
    for (const w of this.watchers) w.channelUp();
    sub.on('close', () => {
      lost = true;
      uncount();
      for (const w of this.watchers) w.channelDown();
    });
    sub.on('ready', () => {
      if (!lost) return;
      // Wait for Redis to confirm the subscription before catching up, so that anything
      // committed after the catch-up's read is published to a channel we already listen on.
      sub.subscribe(...channels).then(
        () => {
          lost = false;
          if (!closed) {
            if (!counted) this.hearing++;
            counted = true;
            for (const w of this.watchers) w.channelUp();
          }
          listener.onResubscribed();
        },
        (err: Error) =>
          this.logger.warn({ err: { message: err.message } }, 'could not re-subscribe'),
      );
    });
    this.listeners.add(listener);
    return async () => {
      closed = true;
      uncount();
      this.listeners.delete(listener);
      for (const w of this.watchers) w.channelDown();
      await closeRedis(sub);
    };
  }
}

/** `payload` parsed as JSON and checked by `schema`; `undefined` if it is neither. */
function parseJson<T>(schema: z.ZodType<T>, payload: string): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(payload));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
