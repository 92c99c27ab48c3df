import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayRateLimits } from '../../../src/gateway/rate-limit.ts';
import { PrivateRedis } from '../../helpers/redis-server.ts';

/**
 * The buckets' script is sent by digest (EVALSHA). A Redis that has not seen it — a fresh or
 * restarted server, or one whose script cache was flushed — must still count, not refuse every
 * call as "unavailable". A private redis-server: the shared one's script cache is not ours to flush.
 */
describe(GatewayRateLimits.name, () => {
  let server: PrivateRedis;
  let redis: Redis;

  beforeAll(async () => {
    server = await PrivateRedis.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const refusal = (p: Promise<void>) =>
    p.then(
      () => undefined,
      (err: { code?: string; retryAfterSeconds?: number }) => err,
    );

  it('spends from both buckets by digest, loading the script when Redis lacks it', async () => {
    const limits = new GatewayRateLimits(
      redis,
      'rl1',
      { capacity: 2, refillPerSecond: 0.01 },
      { capacity: 100, refillPerSecond: 1 },
    );
    // A fresh server: no script cached yet.
    expect(await refusal(limits.take('tok', 'read_messages', 'user'))).toBeUndefined();
    expect(await refusal(limits.take('tok', 'read_messages', 'user'))).toBeUndefined();
    const over = await refusal(limits.take('tok', 'read_messages', 'user'));
    expect(over).toMatchObject({ code: 'rate-limited' });
    expect(over?.retryAfterSeconds).toBeGreaterThan(1);
    // Another tool has its own bucket; the user's bucket was spent by the three calls that ran.
    expect(await refusal(limits.take('tok', 'list_chats', 'user'))).toBeUndefined();
    const keys = await redis.keys('rl1:gw:tb:u:*');
    expect(keys).toHaveLength(1);
    expect(Number(await redis.hget(keys[0]!, 't'))).toBeCloseTo(97, 0);

    await redis.script('FLUSH');
    // The bucket state survived the flush; only the script is gone: still counted, still refused.
    expect(await refusal(limits.take('tok', 'read_messages', 'user'))).toMatchObject({
      code: 'rate-limited',
    });
    expect(await refusal(limits.take('other', 'read_messages', 'user'))).toBeUndefined();
  });

  it('refuses (never runs unlimited) when Redis is down', async () => {
    const limits = new GatewayRateLimits(
      redis,
      'rl2',
      { capacity: 2, refillPerSecond: 1 },
      { capacity: 2, refillPerSecond: 1 },
    );
    await server.stop();
    try {
      expect(await refusal(limits.take('tok', 'read_messages', 'user'))).toMatchObject({
        code: 'rate-limit-unavailable',
      });
    } finally {
      await server.start();
    }
  });
});
