import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { createApp } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import type { Pool } from '../../src/db/pool.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { TEST_REDIS_URL } from './env.ts';
import { LaggingProxy } from './lagging-proxy.ts';

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

export function testRedis(url = TEST_REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2 });
}

/** Every test client comes from 127.0.0.1: per-IP limits would couple unrelated tests. */
const RELAXED_IP_LIMITS = {
  loginIp: { points: 10_000, durationSeconds: 60 },
  paramsIp: { points: 10_000, durationSeconds: 60 },
  registerIp: { points: 10_000, durationSeconds: 60 },
  recoverIp: { points: 10_000, durationSeconds: 60 },
};

export function buildApp(pool: Pool, redis: Redis, overrides: Record<string, string> = {}) {
  return buildVutler(pool, redis, overrides).app;
}

export function buildVutler(pool: Pool, redis: Redis, overrides: Record<string, string> = {}) {
  return createApp({
    limits: RELAXED_IP_LIMITS,
    config: testConfig(overrides),
    logger: silentLogger,
    pool,
    redis,
    secrets: { serverKey: new Uint8Array(randomBytes(32)) },
  });
}

export interface TestServer {
  url: string;
  wsUrl: string;
  vutler: ReturnType<typeof createApp>;
  close: () => Promise<void>;
}

/** The real app on a real socket (127.0.0.1, random port), with its own Redis key prefix. */
export async function startTestServer(
  pool: Pool,
  redis: Redis,
  overrides: Record<string, string> = {},
): Promise<TestServer> {
  return serveApp(
    buildVutler(pool, redis, {
      VUTLER_REDIS_PREFIX: `t${randomBytes(6).toString('hex')}`,
      ...overrides,
    }),
  );
}

/** Puts an app a test built itself (own logger, keys, keyring…) on 127.0.0.1, a random port. */
export async function serveApp(vutler: ReturnType<typeof createApp>): Promise<TestServer> {
  const { serve } = await import('@hono/node-server');
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: vutler.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  await vutler.start(server);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    vutler,
    close: async () => {
      await vutler.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
    },
  };
}

export interface ServerContext {
  readonly db: TestDatabase;
  readonly redis: Redis;
  readonly server: TestServer;
}

/** What a describe-level helper built in `beforeAll`; read outside a test, it is not there yet. */
function builtBy<T>(helper: string, v: T | undefined): T {
  if (v === undefined) throw new Error(`${helper}: used outside a test`);
  return v;
}

/**
 * For a describe block: a fresh migrated database, a Redis client and the real app on a socket,
 * created before its tests and torn down after. Read the fields inside tests (they are set by
 * `beforeAll`).
 */
export function useTestServer(overrides: Record<string, string> = {}): ServerContext {
  let db: TestDatabase | undefined;
  let redis: Redis | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
    server = await startTestServer(db.pool, redis, overrides);
  });
  afterAll(async () => {
    await server?.close();
    redis?.disconnect();
    await db?.drop();
  });
  const ready = <T>(v: T | undefined) => builtBy('useTestServer', v);
  return {
    get db() {
      return ready(db);
    },
    get redis() {
      return ready(redis);
    },
    get server() {
      return ready(server);
    },
  };
}

export interface TwoNodesContext {
  readonly db: TestDatabase;
  readonly redis: Redis;
  readonly a: TestServer;
  readonly b: TestServer;
}

/**
 * For a describe block: two app nodes on one fresh database and one Redis prefix of their own
 * (what one node publishes, the other hears), created before its tests and torn down after.
 * `bHearsLateMs`: node B talks to Redis through a proxy that hands its subscription every
 * message that much later (a busy or distant node), so what B does before an announcement
 * lands is what a test sees, every time.
 */
export function useTwoNodes(
  overrides: Record<string, string> = {},
  opts: { bHearsLateMs?: number } = {},
): TwoNodesContext {
  let db: TestDatabase | undefined;
  let redis: Redis | undefined;
  let proxy: LaggingProxy | undefined;
  let redisB: Redis | undefined;
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
    if (opts.bHearsLateMs) {
      proxy = await LaggingProxy.start(TEST_REDIS_URL, { toSubscribersMs: opts.bHearsLateMs });
      redisB = testRedis(proxy.url);
    }
    const shared = { ...overrides, VUTLER_REDIS_PREFIX: `t${randomBytes(6).toString('hex')}` };
    [a, b] = await Promise.all([
      startTestServer(db.pool, redis, shared),
      startTestServer(db.pool, redisB ?? redis, shared),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    redis?.disconnect();
    redisB?.disconnect();
    await proxy?.close();
    await db?.drop();
  });
  const ready = <T>(v: T | undefined) => builtBy('useTwoNodes', v);
  return {
    get db() {
      return ready(db);
    },
    get redis() {
      return ready(redis);
    },
    get a() {
      return ready(a);
    },
    get b() {
      return ready(b);
    },
  };
}
