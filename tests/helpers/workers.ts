import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { LiveEvent } from '../../src/client/index.ts';
import { startEmbeddedRedis } from '../../src/embedded.ts';
import { type AnthropicStandIn, startAnthropicStandIn } from './anthropic-standin.ts';
import { silentLogger, startTestServer, type TestServer } from './app.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { gatewayKeyLine } from './gateway.ts';
import { type GithubStandIn, startGithubStandIn } from './github-standin.ts';
import { person } from './people.ts';

const BIN = path.resolve('bin/vutler.js');

/** A `redis-server` of the test's own on a free port: it may be flushed or killed. */
export async function ownRedis(dir: string) {
  // An unreachable default makes startEmbeddedRedis start redis-server from PATH.
  const r = await startEmbeddedRedis(dir, silentLogger, 'redis://127.0.0.1:1');
  return r;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Every line it wrote (pino JSON on stdout, anything on stderr). */
  lines: string[];
  ready: Promise<void>;
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** A real `vutler worker` process; resolves `ready` once it logged "workers started". */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('ANTHROPIC_')) delete base[k];
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: { ...base, NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  const onData = (d: Buffer) => {
    for (const line of d.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (line.includes('"workers started"')) resolveReady();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  void exited.then((code) =>
    rejectReady(
      new Error(`vutler worker exited (${code}) before it was ready:\n${lines.join('\n')}`),
    ),
  );
  return {
    child,
    lines,
    ready,
    exited,
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface AgentEnv {
  readonly db: TestDatabase;
  readonly server: TestServer;
  readonly redis: Redis;
  readonly redisUrl: string;
  readonly standin: AnthropicStandIn;
  readonly apiKey: string;
  readonly workers: WorkerProcess[];
  /** With `github: true`: the GitHub stand-in server and workers point at (and at-rest keys). */
  readonly github: GithubStandIn;
  /** Environment for another `vutler worker` on the same database, Redis and gateway key. */
  workerEnv(extra?: Record<string, string>): Record<string, string>;
  startWorker(extra?: Record<string, string>): Promise<WorkerProcess>;
}

/**
 * For a describe block: a fresh database, its own redis-server, the app on a socket, the
 * Anthropic stand-in and (unless `worker: false`) one `vutler worker` process; with `github`,
 * also the GitHub stand-in (agents and deploys in one place, as the web app sees them).
 */
export function useAgentEnv(
  opts: {
    worker?: Record<string, string> | false;
    github?: boolean;
    /** More server settings, read when the server starts (after earlier `beforeAll`s ran). */
    server?: () => Record<string, string>;
  } = {},
): AgentEnv {
  const state: Partial<Record<keyof AgentEnv, unknown>> & { stopRedis?: () => Promise<void> } = {};
  const workers: WorkerProcess[] = [];
  let dir = '';
  const apiKey = `sk-ant-test-${randomBytes(8).toString('hex')}`;
  const prefix = `w${randomBytes(5).toString('hex')}`;
  let key = '';
  const atRest = `k1:${randomBytes(32).toString('base64')}`;
  const env = (): AgentEnv => state as unknown as AgentEnv;
  const githubEnv = (): Record<string, string> =>
    opts.github
      ? {
          GITHUB_URL: env().github.url,
          GITHUB_API_URL: env().github.apiUrl,
          GITHUB_RETRY_BASE_MS: '10',
          VUTLER_AT_REST_KEYS: atRest,
        }
      : {};
  const workerEnv = (extra: Record<string, string> = {}) => ({
    ...githubEnv(),
    DATABASE_URL: env().db.url,
    REDIS_URL: env().redisUrl,
    VUTLER_REDIS_PREFIX: prefix,
    VUTLER_GATEWAY_KEY: key,
    VUTLER_DATA_DIR: dir,
    ANTHROPIC_API_KEY: apiKey,
    ANTHROPIC_BASE_URL: env().standin.url,
    ANTHROPIC_MODEL: 'claude-test',
    ANTHROPIC_MAX_RETRIES: '0',
    VUTLER_OUTBOX_POLL_MS: '500',
    VUTLER_OUTBOX_RECONCILE_MS: '500',
    VUTLER_WORKER_LOCK_MS: '2000',
    ...extra,
  });
  const startWorker = async (extra: Record<string, string> = {}) => {
    const w = spawnWorker(workerEnv(extra));
    workers.push(w);
    await w.ready;
    return w;
  };
  Object.assign(state, { apiKey, workers, workerEnv, startWorker });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-workers-'));
    key = await gatewayKeyLine();
    const r = await ownRedis(dir);
    state.stopRedis = r.stop;
    state.redisUrl = r.url;
    state.redis = new Redis(r.url, { maxRetriesPerRequest: 2 });
    state.db = await createTestDatabase();
    state.standin = await startAnthropicStandIn({ apiKey });
    if (opts.github) state.github = await startGithubStandIn();
    state.server = await startTestServer(env().db.pool, env().redis, {
      ...githubEnv(),
      VUTLER_REDIS_PREFIX: prefix,
      VUTLER_GATEWAY_KEY: key,
      ...opts.server?.(),
    });
    if (opts.worker !== false) await startWorker(opts.worker ?? {});
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await (state.server as TestServer | undefined)?.close();
    await (state.standin as AnthropicStandIn | undefined)?.close();
    await (state.github as GithubStandIn | undefined)?.close();
    (state.redis as Redis | undefined)?.disconnect();
    await state.stopRedis?.();
    await (state.db as TestDatabase | undefined)?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return new Proxy(state, {
    get(target, p) {
      const v = (target as Record<string | symbol, unknown>)[p];
      if (v === undefined) throw new Error(`useAgentEnv: ${String(p)} used outside a test`);
      return v;
    },
  }) as unknown as AgentEnv;
}

/**
 * Alice and Bob in a direct chat; Alice allowed `agentName` to read and write chats and granted
 * it this one (unless `grant: false`). Alice's live events are collected.
 */
export async function agentChat(
  url: string,
  opts: { agentName?: string; grant?: boolean; secret?: string } = {},
) {
  const agentName = opts.agentName ?? 'claude';
  const alice = await person(url, 'alice');
  const bob = await person(url, 'bob');
  const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
  if (opts.secret) await bob.client.chats.send(chat.id, opts.secret);
  if (opts.grant !== false) {
    await alice.client.agents.setPermission({
      agentName,
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    await alice.client.agents.grantChat(chat.id, agentName);
  }
  // Each device pins the gateway key (trust on first use) to check agent messages.
  await alice.client.agents.gateway();
  await bob.client.agents.gateway();
  const events: LiveEvent[] = [];
  const live = await alice.client.live({ onEvent: (e) => events.push(e) });
  return { alice, bob, chat, agentName, events, live };
}

/** The agent.status events of one trigger message, in order. */
export function statusesOf(events: LiveEvent[], messageId: string) {
  return events.filter(
    (e): e is Extract<LiveEvent, { type: 'agent.status' }> =>
      e.type === 'agent.status' && e.messageId === messageId,
  );
}
