import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import type { Pool } from '../../src/db/pool.ts';
import { TEST_REDIS_URL } from './env.ts';

export const silentLogger = pino({ level: 'silent' });

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...overrides });
}

/** A Redis client on a port where nothing listens: for "Redis is down" cases. */
export function unreachableRedis(): Redis {
  const r = new Redis('redis://127.0.0.1:1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  return r;
}

export function testRedis(): Redis {
  return new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
}

export function buildApp(pool: Pool, redis: Redis, overrides: Record<string, string> = {}) {
  return createApp({ config: testConfig(overrides), logger: silentLogger, pool, redis });
}
