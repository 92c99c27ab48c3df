import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ChatEvents,
  type HubListener,
  type RevocationWatcher,
  type SessionsRevoked,
} from '../../src/chat/events.ts';
import { closeRedis } from '../../src/redis.ts';
import { silentLogger, testRedis } from '../helpers/app.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { LaggingProxy } from '../helpers/lagging-proxy.ts';
import { until } from '../helpers/wait.ts';

/** A node's caches, as far as the channel is concerned: what it was told to forget, in order. */
function watcher(): RevocationWatcher & { forgotten: SessionsRevoked[] } {
  const forgotten: SessionsRevoked[] = [];
  return { forgotten, forget: (r) => forgotten.push(r), channelUp() {}, channelDown() {} };
}

const listener: HubListener = {
  onEvent() {},
  onSessionsRevoked() {},
  onResubscribed() {},
  onPublishFailed() {},
};

function capturingLogger() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'warn' }, { write: (l: string) => lines.push(l) }) };
}

describe('revocations wait for every subscribed node to confirm', () => {
  let redis: Redis;
  let proxy: LaggingProxy;
  let lateRedis: Redis;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    redis = testRedis();
    proxy = await LaggingProxy.start(TEST_REDIS_URL, { toSubscribersMs: 150 });
    lateRedis = testRedis(proxy.url);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    redis.disconnect();
    lateRedis.disconnect();
    await proxy.close();
  });

  /** A node on `prefix`: its ChatEvents, subscribed, with a watcher standing for its caches. */
  async function node(prefix: string, client: Redis, opts: { revocationAckMs?: number } = {}) {
    const log = capturingLogger();
    const events = new ChatEvents(client, prefix, log.logger, opts);
    const caches = watcher();
    events.watchRevocations(caches);
    const unsubscribe = await events.subscribe(listener);
    cleanups.push(unsubscribe);
    return { events, caches, log };
  }
  const prefix = () => `rc${randomBytes(5).toString('hex')}`;

  it('returns only once a node that hears it late has forgotten it', async () => {
    const p = prefix();
    const a = await node(p, redis);
    const b = await node(p, lateRedis);
    await a.events.publishSessionsRevoked({ sessionIds: ['s1'] });
    expect(b.caches.forgotten).toEqual([{ sessionIds: ['s1'] }]);
    expect(a.log.lines).toEqual([]);
  });

  it('from a process without a subscription (a worker) too', async () => {
    const p = prefix();
    const b = await node(p, lateRedis);
    const worker = new ChatEvents(redis, p, silentLogger);
    await worker.publishSessionsRevoked({ userId: 'u1' });
    expect(b.caches.forgotten).toEqual([{ userId: 'u1' }]);
  });

  it('gives up after revocationAckMs on a subscriber that never confirms, and says so without ids', async () => {
    const p = prefix();
    const a = await node(p, redis, { revocationAckMs: 300 });
    // An old node, or one stuck: it receives revocations and never answers.
    const mute = redis.duplicate();
    cleanups.push(() => closeRedis(mute));
    let heard = 0;
    mute.on('message', () => heard++);
    await mute.subscribe(`${p}:session-events`);
    const started = Date.now();
    await a.events.publishSessionsRevoked({ sessionIds: ['secret-session-id'] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(heard).toBe(1);
    expect(a.log.lines).toHaveLength(1);
    expect(JSON.parse(a.log.lines[0]!)).toMatchObject({
      subscribers: 2,
      confirmed: 1,
      msg: expect.stringContaining('not every node confirmed a revocation'),
    });
    expect(a.log.lines[0]).not.toContain('secret-session-id');
  });

  it('does not ask for confirmations with revocationAckMs 0, and still announces', async () => {
    const p = prefix();
    const a = await node(p, redis, { revocationAckMs: 0 });
    const b = await node(p, redis);
    const heard = new Promise<string>((resolve) => {
      const spy = redis.duplicate();
      cleanups.push(() => closeRedis(spy));
      spy.on('message', (_c: string, payload: string) => resolve(payload));
      void spy
        .subscribe(`${p}:session-events`)
        .then(() => a.events.publishSessionsRevoked({ userId: 'u2' }));
    });
    expect(JSON.parse(await heard)).toEqual({ userId: 'u2' });
    await until(() => b.caches.forgotten.length === 1, 'the other node hearing it');
  });
});
