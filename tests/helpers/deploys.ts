import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startTestServer, type TestServer } from './app.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { gatewayKeyLine } from './gateway.ts';
import { type GithubStandIn, startGithubStandIn } from './github-standin.ts';
import { ownRedis, spawnWorker, type WorkerProcess } from './workers.ts';

export interface HookCall {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A deploy-hook receiver: records calls; `behaviour` decides each answer (status, or hang). */
export async function startHookServer() {
  const calls: HookCall[] = [];
  let behaviour: (call: HookCall) => Promise<number | 'hang'> = async () => 200;
  const waiters: Array<() => void> = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const call = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
    calls.push(call);
    for (const w of waiters.splice(0)) w();
    const answer = await behaviour(call);
    if (answer === 'hang') return;
    res.writeHead(answer).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/deploy`;
  return {
    url,
    calls,
    set(fn: typeof behaviour) {
      behaviour = fn;
    },
    /** Resolves when the hook has received `n` calls in all. */
    async received(n: number, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (calls.length < n) {
        if (Date.now() > deadline) throw new Error(`hook got ${calls.length} of ${n} calls`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface DeployEnv {
  readonly db: TestDatabase;
  readonly server: TestServer;
  readonly redis: Redis;
  readonly standin: GithubStandIn;
  readonly workers: WorkerProcess[];
  startWorker(extra?: Record<string, string>): Promise<WorkerProcess>;
}

/**
 * For a describe block: its own redis-server, a fresh database, the GitHub stand-in, the app on
 * a socket pointed at it, and one `vutler worker` process sharing database, Redis, gateway key
 * and at-rest keys.
 */
export function useDeployEnv(worker: Record<string, string> = {}): DeployEnv {
  const state: Record<string, unknown> = {};
  const workers: WorkerProcess[] = [];
  let dir = '';
  let stopRedis: (() => Promise<void>) | undefined;
  const prefix = `g${randomBytes(5).toString('hex')}`;
  const atRest = `k1:${randomBytes(32).toString('base64')}`;
  let key = '';
  let redisUrl = '';
  const shared = () => {
    const s = state as unknown as DeployEnv;
    return {
      DATABASE_URL: s.db.url,
      REDIS_URL: redisUrl,
      VUTLER_REDIS_PREFIX: prefix,
      VUTLER_GATEWAY_KEY: key,
      VUTLER_DATA_DIR: dir,
      VUTLER_AT_REST_KEYS: atRest,
      GITHUB_URL: s.standin.url,
      GITHUB_API_URL: s.standin.apiUrl,
      GITHUB_RETRY_BASE_MS: '10',
      GITHUB_TIMEOUT_MS: '1500',
    };
  };
  const startWorker = async (extra: Record<string, string> = {}) => {
    const w = spawnWorker({
      ...shared(),
      VUTLER_OUTBOX_POLL_MS: '300',
      VUTLER_OUTBOX_RECONCILE_MS: '500',
      VUTLER_WORKER_LOCK_MS: '2000',
      ...worker,
      ...extra,
    });
    workers.push(w);
    await w.ready;
    return w;
  };
  Object.assign(state, { workers, startWorker });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-deploys-'));
    key = await gatewayKeyLine();
    const r = await ownRedis(dir);
    stopRedis = r.stop;
    redisUrl = r.url;
    state.redis = new Redis(r.url, { maxRetriesPerRequest: 2 });
    state.db = await createTestDatabase();
    state.standin = await startGithubStandIn();
    const s = state as unknown as DeployEnv;
    state.server = await startTestServer(s.db.pool, s.redis, shared());
    await startWorker();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    const s = state as Partial<DeployEnv>;
    await s.server?.close();
    await s.standin?.close();
    s.redis?.disconnect();
    await stopRedis?.();
    await s.db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return new Proxy(state, {
    get(target, p) {
      const v = target[p as string];
      if (v === undefined) throw new Error(`useDeployEnv: ${String(p)} used outside a test`);
      return v;
    },
  }) as unknown as DeployEnv;
}
