import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Pool } from '../db/pool.ts';
import { ServiceUnavailableError } from '../errors.ts';

const CHECK_TIMEOUT_MS = 1_500;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export type CheckResult = { ok: true; ms: number } | { ok: false; error: string };

async function check(fn: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withTimeout(fn(), CHECK_TIMEOUT_MS);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, error: (err as Error).message || 'unreachable' };
  }
}

export function healthRoutes(deps: {
  pool: Pool;
  redis: Redis;
  schemaReady?: () => boolean;
  /** Blob storage (fs directory or WebDAV): rejects with why it cannot be used. */
  storage?: () => Promise<void>;
}) {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const storage = deps.storage;
    const [postgres, redis, blobs] = await Promise.all([
      check(() => deps.pool.query('SELECT 1')),
      check(() => deps.redis.ping()),
      storage ? check(storage) : undefined,
    ]);
    const checks: Record<string, CheckResult> = { postgres, redis };
    if (blobs) checks.storage = blobs;
    if (deps.schemaReady && !deps.schemaReady())
      checks.migrations = { ok: false, error: 'migrations not applied yet' };
    const failed = Object.entries(checks)
      .filter(([, r]) => !r.ok)
      .map(([name]) => name);
    if (failed.length > 0) {
      throw new ServiceUnavailableError(`Not ready: ${failed.join(' and ')} did not answer.`, {
        failed,
        checks,
      });
    }
    return c.json({ status: 'ready', checks });
  });
  return app;
}
