/**
 * What bench/chat needs around the load generator: a throwaway database, the real Vutler server
 * and the baseline server as child processes, Redis key cleanup, and CPU accounting from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { CpuShares } from './loadgen.ts';

/** Cleanup steps run once, last registered first, also on error and on signals. */
export class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<void> | void }[] = [];
  private running: Promise<void> | null = null;

  add(name: string, fn: () => Promise<void> | void): void {
    this.steps.push({ name, fn });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const s of this.steps.reverse()) {
        try {
          await s.fn();
        } catch (err) {
          console.error(`cleanup: ${s.name} failed: ${(err as Error).message}`);
        }
      }
      this.steps.length = 0;
    })();
    return this.running;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function admin(adminUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Creates an empty database (the server migrates it) and registers its drop. */
export async function createDatabase(adminUrl: string, name: string, cleanup: Cleanup) {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  await admin(adminUrl, `CREATE DATABASE ${name}`);
  cleanup.add(`drop database ${name}`, () =>
    admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
  return withDatabase(adminUrl, name);
}

export async function countRows(url: string, sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(sql);
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

/** Deletes every key under `prefix:` (rate-limit counters and the like). */
export async function dropRedisPrefix(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  r.on('error', () => undefined);
  await r.connect();
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) n += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Output lines kept for the report (the last 2,000). */
  lines: string[];
  exited: Promise<number | null>;
  stop: () => Promise<void>;
}

/** Spawns a child whose stdout/stderr lines are collected; `stop` sends SIGTERM, then SIGKILL. */
export function startChild(
  name: string,
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; killAfterMs: number },
  cleanup: Cleanup,
): Child {
  const proc = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const collect = (buf: Buffer) => {
    for (const l of buf.toString().split('\n')) {
      if (l.trim() === '') continue;
      lines.push(l);
      if (lines.length > 2_000) lines.shift();
    }
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  proc.stdin?.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => {
    if (proc.exitCode !== null) resolve(proc.exitCode);
    proc.once('exit', (code) => resolve(code));
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), opts.killAfterMs);
    await exited;
    clearTimeout(killer);
  };
  cleanup.add(`stop ${name}`, stop);
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  return { proc, pid: proc.pid, lines, exited, stop };
}

/** Polls `url` until it answers 200; fails early if the child exits. */
export async function waitReady(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void child.exited.then(() => (dead = true));
  while (Date.now() < deadline) {
    if (dead) throw new Error(`server exited during start:\n${child.lines.slice(-20).join('\n')}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not ready after ${timeoutMs} ms:\n${child.lines.slice(-20).join('\n')}`);
}

/** Waits for the first stdout line that parses as JSON with the given key. */
export function waitJsonLine<T>(child: Child, key: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${key} from child`)), timeoutMs);
    const check = (buf: Buffer) => {
      for (const l of buf.toString().split('\n')) {
        try {
          const j = JSON.parse(l) as Record<string, unknown>;
          if (key in j) {
            clearTimeout(timer);
            child.proc.stdout?.off('data', check);
            resolve(j[key] as T);
            return;
          }
        } catch {
          // not JSON
        }
      }
    };
    child.proc.stdout?.on('data', check);
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}): ${child.lines.slice(-10).join('\n')}`));
    });
  });
}

// --- CPU accounting (Linux) ----------------------------------------------------------------

const TICKS_PER_SEC = 100; // USER_HZ on Linux

/** utime and stime of a process (all its threads), in clock ticks. */
function procTimes(pid: number, tid?: number): { user: number; sys: number } {
  try {
    const file = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
    const stat = readFileSync(file, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return { user: Number(fields[11]), sys: Number(fields[12]) };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** Read and write system calls a process made so far (/proc/<pid>/io; root or same user). */
function procSyscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

function procTicks(pid: number): number {
  const t = procTimes(pid);
  return t.user + t.sys;
}

function ticksByComm(names: string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm in out) out[comm]! += procTicks(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

function machineTicks(): { busy: number; total: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total, steal: v[7] ?? 0 };
  } catch {
    return { busy: 0, total: 0, steal: 0 };
  }
}

/** Starts a CPU measurement; the returned function ends it (percent of one core per component). */
export function cpuMeter(
  serverPid: () => number | undefined,
  /** PostgreSQL backends to count (those of the bench's database); default: every postgres process. */
  postgresPids?: number[],
): () => CpuShares | undefined {
  if (process.platform !== 'linux') return () => undefined;
  const pgTicks = () =>
    postgresPids ? postgresPids.reduce((s, p) => s + procTicks(p), 0) : undefined;
  const pg0 = pgTicks();
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  const self0 = process.cpuUsage();
  const pid = serverPid();
  const server0 = pid ? procTimes(pid) : { user: 0, sys: 0 };
  // A process's main thread has the process's id as its thread id.
  const main0 = pid ? procTimes(pid, pid) : { user: 0, sys: 0 };
  const io0 = pid ? procSyscalls(pid) : { reads: 0, writes: 0 };
  const comm0 = ticksByComm(['postgres', 'redis-server']);
  const m0 = machineTicks();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0);
    const self = process.cpuUsage(self0);
    const server1 = pid ? procTimes(pid) : { user: 0, sys: 0 };
    const main1 = pid ? procTimes(pid, pid) : { user: 0, sys: 0 };
    const io1 = pid ? procSyscalls(pid) : { reads: 0, writes: 0 };
    const comm1 = ticksByComm(['postgres', 'redis-server']);
    const m1 = machineTicks();
    const pctTicks = (d: number) => Math.round((d / TICKS_PER_SEC / secs) * 100);
    const shares: CpuShares = {
      loadgenAndClients: Math.round(((self.user + self.system) / 1e6 / secs) * 100),
      server: pctTicks(server1.user + server1.sys - server0.user - server0.sys),
      serverKernel: pctTicks(server1.sys - server0.sys),
      serverMainThread: pctTicks(main1.user + main1.sys - main0.user - main0.sys),
      loadgenKernel: Math.round((self.system / 1e6 / secs) * 100),
      postgres: pctTicks(pg0 === undefined ? comm1.postgres! - comm0.postgres! : pgTicks()! - pg0),
      redis: pctTicks(comm1['redis-server']! - comm0['redis-server']!),
      machineBusyPct:
        m1.total > m0.total ? Math.round(((m1.busy - m0.busy) / (m1.total - m0.total)) * 100) : 0,
      loadgenEventLoopPct: Math.round(elu.utilization * 100),
      serverReadCalls: io1.reads - io0.reads,
      serverWriteCalls: io1.writes - io0.writes,
      otherProcesses: 0,
      stealPct:
        m1.total > m0.total ? Math.round(((m1.steal - m0.steal) / (m1.total - m0.total)) * 100) : 0,
    };
    // Whatever else ran on the machine meanwhile (other jobs on a shared box), in % of a core.
    shares.otherProcesses = Math.max(
      0,
      Math.round(
        shares.machineBusyPct * os.cpus().length -
          shares.loadgenAndClients -
          shares.server -
          shares.postgres -
          shares.redis -
          shares.stealPct * os.cpus().length,
      ),
    );
    return shares;
  };
}

/** The server-side PIDs of every connection to `database` (its PostgreSQL backends). */
export async function backendPids(adminUrl: string, database: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const r = await c.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    );
    return r.rows.map((x) => x.pid);
  } finally {
    await c.end();
  }
}

/**
 * Latency of a one-row autocommit INSERT (its WAL flush, mostly), in ms: what one chat's
 * messages queue behind, since each holds its chat's row lock until it has committed.
 */
export async function commitLatency(
  url: string,
  n = 200,
): Promise<{ p50: number; p90: number; p99: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // A regular table: temporary ones skip the WAL, and the WAL flush is what this measures.
    await c.query('CREATE TABLE IF NOT EXISTS commit_probe (id serial PRIMARY KEY, v int)');
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await c.query('INSERT INTO commit_probe (v) VALUES ($1)', [i]);
      lat.push(performance.now() - t);
    }
    await c.query('DROP TABLE commit_probe');
    lat.sort((a, b) => a - b);
    const at = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
  } finally {
    await c.end();
  }
}

/**
 * Opt-in (BENCH_COMMIT_PROBE=1): a connection of its own committing a one-row INSERT every
 * `everyMs` during a level, so that a stall of PostgreSQL's commits as a whole (WAL flush, a new
 * WAL segment, a checkpoint's fsync) shows up with its time, apart from the target's own work.
 */
export async function commitProbe(url: string, everyMs = 10) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('CREATE TABLE IF NOT EXISTS commit_stall_probe (id serial PRIMARY KEY, v int)');
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  let run: { start: number; slow: { atMs: number; ms: number }[]; stop: boolean } | undefined;
  let loop: Promise<void> | undefined;
  return {
    pid,
    start() {
      const r = {
        start: performance.now(),
        slow: [] as { atMs: number; ms: number }[],
        stop: false,
      };
      run = r;
      loop = (async () => {
        while (!r.stop) {
          const t = performance.now();
          await c.query('INSERT INTO commit_stall_probe (v) VALUES (1)');
          const ms = performance.now() - t;
          if (ms > 15) r.slow.push({ atMs: Math.round(t - r.start), ms: +ms.toFixed(1) });
          await new Promise((res) => setTimeout(res, everyMs));
        }
      })();
    },
    async stop() {
      if (!run) return [];
      run.stop = true;
      await loop;
      return run.slow;
    },
    close: () => c.end(),
  };
}
