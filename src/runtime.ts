import { type ServerType, serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import { type AtRestKeyring, loadAtRestKeyring } from './atrest.ts';
import type { Config } from './config.ts';
import { migrate } from './db/migrate.ts';
import { createPool, type Pool } from './db/pool.ts';
import { type Embedded, startEmbeddedPostgres, startEmbeddedRedis } from './embedded.ts';
import { closeRedis, createRedis, type Redis } from './redis.ts';
import { loadServerSecrets } from './secrets.ts';
import { ensureWebBundle } from './web/build.ts';
import { type RunningWorker, startWorkers } from './workers/index.ts';

export interface RuntimeOptions {
  http: boolean;
  workers: boolean;
  /** Apply pending migrations at start (safe with several starters: advisory lock). */
  migrate: boolean;
}

export interface Runtime {
  pool: Pool;
  redis: Redis;
  dbUrl: string;
  redisUrl: string;
  /** The bound port when `http` is on. */
  port?: number;
  stop: () => Promise<void>;
}

/**
 * Brings up whatever the process needs, in dependency order, and returns one `stop` that tears
 * it down in the reverse order: WebSockets, HTTP, workers, Redis and PostgreSQL clients, then
 * the embedded servers.
 */
export async function startRuntime(
  config: Config,
  logger: Logger,
  opts: RuntimeOptions,
): Promise<Runtime> {
  const closers: Array<{ name: string; close: () => Promise<void> }> = [];
  const stop = async () => {
    for (const c of closers.reverse()) {
      try {
        await c.close();
      } catch (err) {
        logger.warn(
          { component: c.name, err: { message: (err as Error).message } },
          'error while stopping',
        );
      }
    }
    closers.length = 0;
  };
  try {
    let dbUrl = config.db.url;
    if (!dbUrl) {
      const pg: Embedded = await startEmbeddedPostgres(config.dataDir, logger);
      closers.push({ name: 'embedded-postgres', close: pg.stop });
      dbUrl = pg.url;
    }
    let redisUrl = config.redis.url;
    if (!redisUrl) {
      const r = await startEmbeddedRedis(config.dataDir, logger);
      closers.push({ name: 'embedded-redis', close: r.stop });
      redisUrl = r.url;
    }
    const pool = createPool(dbUrl, config.db.poolMax, logger);
    closers.push({ name: 'postgres-pool', close: () => pool.end() });
    const redis = createRedis(redisUrl, { logger, name: 'vutler-api' });
    closers.push({
      name: 'redis',
      close: () => closeRedis(redis),
    });

    const schema = { ready: !opts.migrate };
    if (opts.migrate) {
      const apply = async () => {
        const result = await migrate(pool, { logger });
        schema.ready = true;
        logger.info(
          { applied: result.applied.length, already: result.alreadyApplied },
          'migrations up to date',
        );
      };
      try {
        await apply();
      } catch (err) {
        // PostgreSQL not there (yet): serve /health and a /ready that says so, and keep trying.
        // Anything else (a changed migration, bad SQL) still stops the start.
        if (!isUnreachable(err)) throw err;
        logger.warn(
          { err: { message: (err as Error).message } },
          'PostgreSQL unreachable: serving /ready, retrying migrations every second',
        );
        const retry = setInterval(() => {
          apply().then(
            () => clearInterval(retry),
            (e: Error) => logger.debug({ err: { message: e.message } }, 'migrations still waiting'),
          );
        }, 1_000);
        retry.unref();
        closers.push({ name: 'migration-retry', close: async () => clearInterval(retry) });
      }
    }

    // One keyring per process, shared by the API and the workers (the first load may create
    // the key file, so it must not run twice side by side).
    let atRestLoad: Promise<AtRestKeyring> | undefined;
    const atRestKeys = () => {
      atRestLoad ??= loadAtRestKeyring(config);
      return atRestLoad;
    };

    if (opts.workers) {
      const workerRedis = createRedis(redisUrl, { logger, blocking: true, name: 'vutler-worker' });
      closers.push({
        name: 'worker-redis',
        close: () => closeRedis(workerRedis),
      });
      const workers: RunningWorker[] = await startWorkers({
        config,
        logger,
        pool,
        redis: workerRedis,
        apiRedis: redis,
        atRest: await atRestKeys(),
      });
      closers.push({
        name: 'workers',
        // Reverse start order: the relay stops feeding before the processors drain and close.
        close: async () => {
          for (const w of [...workers].reverse()) await w.close();
        },
      });
    }

    let port: number | undefined;
    if (opts.http) {
      const secrets = await loadServerSecrets(config);
      await ensureWebBundle().then(
        ({ built }) => built && logger.info('web app built into dist/web'),
        // The API works without the page; `/` then answers 503 saying how to build it.
        (err: unknown) => logger.error({ err }, 'web app build failed'),
      );
      const atRest = await atRestKeys();
      const vutler = createApp({
        config,
        logger,
        pool,
        redis,
        secrets,
        atRest,
        schemaReady: () => schema.ready,
      });
      // Loads the gateway key pair now (generating the key file on first start), not on first call.
      await vutler.services.gateway.keyed();
      const server: ServerType = await new Promise((resolve, reject) => {
        const s = serve(
          { fetch: vutler.app.fetch, hostname: config.http.host, port: config.http.port },
          () => resolve(s),
        );
        s.once('error', reject);
      });
      const addr = server.address();
      port = typeof addr === 'object' && addr ? addr.port : config.http.port;
      closers.push({
        name: 'http',
        close: () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            // Keep-alive sockets would hold close() open; idle ones can go now.
            if ('closeIdleConnections' in server) server.closeIdleConnections();
          }),
      });
      await vutler.start(server);
      // Pushed after http: stops first, so clients are told before the listener goes away.
      closers.push({ name: 'websockets', close: vutler.stop });
      logger.info({ host: config.http.host, port }, 'vutler listening');
    }
    return { pool, redis, dbUrl, redisUrl, port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '57P03', // the database system is starting up / shutting down
]);

/** A connection failure (retry later), as opposed to a failure of the migrations themselves. */
function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; errors?: unknown[] };
  if (e.code && UNREACHABLE_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.some(isUnreachable)) return true;
  return /timeout exceeded when trying to connect|Connection terminated/i.test(e.message ?? '');
}

/** Stops on SIGTERM/SIGINT; a second signal or the timeout forces exit. */
export function stopOnSignals(runtime: Runtime, config: Config, logger: Logger): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown timed out, exiting');
      process.exit(1);
    }, config.http.shutdownTimeoutMs);
    force.unref();
    runtime.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
