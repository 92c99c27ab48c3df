/**
 * Chat benchmark (not a test): `npx tsx bench/chat/index.ts [--mode server|client --users 20
 * --chats 10 --members 4 --duration 5 --levels 500,1000,2000,max --max-in-flight 64 --drain 10
 * --only vutler|baseline --max-rate 20000 --server-prof DIR]` (or `npm run bench chat`). Env:
 * BENCH_MODE, BENCH_USERS, BENCH_CHATS, BENCH_MEMBERS, BENCH_DURATION_S, BENCH_LEVELS,
 * BENCH_MAX_IN_FLIGHT, BENCH_MAX_RATE, BENCH_DATABASE_URL, BENCH_REDIS_URL.
 *
 * `--mode server` (default): see bench/chat/server.ts — presealed messages, a light generator,
 * and a persisted relay baseline; writes bench/results/chat-server.{json,md}. `--mode client`,
 * below: the whole SDK on both ends.
 *
 * N WebSocket clients across group chats, messages persisted: delivered messages/s and
 * send→deliver latency, against a bare `ws` broadcast server (no persistence, no auth, no
 * crypto) driven by the same load generator in the same run.
 *
 * Vutler: the real server (`node bin/vutler.js serve`) as a child process on a fresh PostgreSQL
 * database and a fresh Redis prefix; people are real SDK clients (`VutlerClient`): every send is
 * `client.chats.send` (encrypt + sign + REST POST, stored), every delivery is a decrypted and
 * signature-checked message on another member's `client.live` subscription. Baseline: a bare
 * `ws` server (bench/chat/baseline-server.ts, also a child process) relaying each frame to the
 * other sockets of its room; its clients are plain `ws` sockets in the same layout.
 *
 * Levels are total deliveries/s (a message to a chat of M members is M−1 deliveries): fixed-rate
 * open loop, latency measured from the scheduled send time; "max" keeps a bounded number of
 * messages in flight (sent, not yet delivered to every other member). Prints markdown tables and
 * writes bench/results/chat.json and bench/results/chat.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { LIMITS } from '../../src/auth/auth.service.ts';
import type { FetchLike } from '../../src/client/http.ts';
import { VutlerClient } from '../../src/client/index.ts';
import type { LiveSubscription, WebSocketConstructor } from '../../src/client/live.ts';
import {
  type Level,
  type LevelOptions,
  type LevelResult,
  makeLayout,
  Recorder,
  type Target,
} from './loadgen.ts';
import { runServerMode } from './server.ts';
import {
  type Child,
  Cleanup,
  countRows,
  cpuMeter,
  createDatabase,
  dropRedisPrefix,
  freePort,
  startChild,
  waitJsonLine,
  waitReady,
} from './services.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const resultsDir = path.resolve(here, '../results');

const TARGET_RATIO = 0.5;
const TARGET_P99_MS = 50;
const TARGET_P99_LEVEL = 1000;
/** Give up (and clean up) if the whole run takes longer than this. */
const WATCHDOG_MS = 10 * 60_000;

// --- options -------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    users: { type: 'string' },
    chats: { type: 'string' },
    members: { type: 'string' },
    duration: { type: 'string' },
    levels: { type: 'string' },
    'max-in-flight': { type: 'string' },
    drain: { type: 'string' },
    only: { type: 'string' },
    'server-prof': { type: 'string' },
    mode: { type: 'string' },
    'max-rate': { type: 'string' },
  },
  allowPositionals: false,
});

function num(flag: string | undefined, env: string | undefined, def: number, min = 1): number {
  const raw = flag ?? env;
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`bad number: ${raw}`);
  return n;
}

const E = process.env;
const opts = {
  users: num(args.users, E.BENCH_USERS, 20, 2),
  chats: num(args.chats, E.BENCH_CHATS, 10),
  members: num(args.members, E.BENCH_MEMBERS, 4, 2),
  durationS: num(args.duration, E.BENCH_DURATION_S, 5, 0.5),
  maxInFlight: num(args['max-in-flight'], E.BENCH_MAX_IN_FLIGHT, 64),
  drainS: num(args.drain, undefined, 10, 0),
  levels: (args.levels ?? E.BENCH_LEVELS ?? '500,1000,2000,max').split(',').map((s): Level => {
    const t = s.trim();
    if (t === 'max') return { label: 'max', deliveriesPerSec: null };
    const n = Number(t);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`bad level ${t}`);
    return { label: String(n), deliveriesPerSec: n };
  }),
  only: args.only as 'vutler' | 'baseline' | undefined,
  /** server (default): presealed messages, light generator, persisted relay baseline. client: real SDK clients vs a bare ws relay. */
  mode: (args.mode ?? E.BENCH_MODE ?? 'server') as 'server' | 'client',
  maxRate: num(args['max-rate'], E.BENCH_MAX_RATE, 20_000),
  serverProf: args['server-prof'],
  adminUrl: E.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: E.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
};
if (opts.mode !== 'server' && opts.mode !== 'client')
  throw new Error('--mode must be server or client');
if (opts.only && opts.only !== 'vutler' && opts.only !== 'baseline')
  throw new Error('--only must be vutler or baseline');

const levelOptions = (seed: number, durationMs = opts.durationS * 1000): LevelOptions => ({
  durationMs,
  drainMs: opts.drainS * 1000,
  maxInFlight: opts.maxInFlight,
  openLoopCap: 2_000,
  expireMs: 10_000,
  padChars: 80,
  seed,
});

async function mapLimit<T, R>(items: T[], limit: number, fn: (x: T, i: number) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

// --- Vutler --------------------------------------------------------------------------------

interface VutlerSide {
  target: Target;
  server: Child;
  dbUrl: string;
  usedForwardedFor: boolean;
  /** Sends the server accepted (201), warm-up included: what PostgreSQL must hold. */
  accepted: () => number;
  /** Own messages echoed back to their sender's live subscription (decrypted too). */
  echoes: () => number;
  unexpectedCloses: string[];
  closeClients: () => void;
}

async function startVutler(
  layout: number[][],
  rec: Recorder,
  cleanup: Cleanup,
  tag: string,
): Promise<VutlerSide> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vutler-bench-'));
  cleanup.add('remove data dir', () => rmSync(dataDir, { recursive: true, force: true }));
  const dbName = `vutler_bench_${tag}`;
  const dbUrl = await createDatabase(opts.adminUrl, dbName, cleanup);
  const prefix = `bench${tag}`;
  cleanup.add('drop redis keys', async () => void (await dropRedisPrefix(opts.redisUrl, prefix)));
  const port = await freePort();
  // Registration is limited per IP (LIMITS.registerIp per hour, whatever NODE_ENV): past that,
  // trust X-Forwarded-For on this throwaway server and give each person an address of its own.
  const usedForwardedFor = opts.users > LIMITS.registerIp.points;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(VUTLER_|DATABASE_|REDIS_)/.test(k)) env[k] = v;
  }
  Object.assign(env, {
    DATABASE_URL: dbUrl,
    REDIS_URL: opts.redisUrl,
    VUTLER_REDIS_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    VUTLER_DATA_DIR: dataDir,
    VUTLER_SHUTDOWN_TIMEOUT_MS: '3000',
    VUTLER_TRUST_PROXY: usedForwardedFor ? 'true' : 'false',
  });
  const nodeArgs: string[] = [];
  if (opts.serverProf) {
    mkdirSync(opts.serverProf, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(opts.serverProf)}`);
  }
  const server = startChild(
    'vutler server',
    process.execPath,
    [...nodeArgs, 'bin/vutler.js', 'serve'],
    { cwd: root, env, killAfterMs: 5_000 },
    cleanup,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(`${baseUrl}/ready`, server, 60_000);

  const fetchFor =
    (i: number): FetchLike =>
    (input, init) =>
      fetch(input, {
        ...init,
        headers: {
          ...(init?.headers as Record<string, string>),
          'x-forwarded-for': `10.77.${i >> 8}.${i & 255}`,
        },
      });
  const people = await mapLimit(
    Array.from({ length: opts.users }, (_, i) => i),
    4,
    async (i) => {
      const client = new VutlerClient({
        baseUrl,
        kdfCost: { memoryKiB: 1024, iterations: 1, parallelism: 1 },
        allowWeakKdf: true,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        ...(usedForwardedFor ? { fetch: fetchFor(i) } : {}),
      });
      const { user } = await client.registerWithEncryption({
        email: `bench-${i}-${tag}@example.com`,
        passphrase: `bench passphrase ${i} ${tag}`,
        displayName: `bench ${i}`,
      });
      return { client, id: user.id };
    },
  );
  const chatIds: string[] = [];
  for (const members of layout) {
    const creator = people[members[0]!]!;
    const chat = await creator.client.chats.create({
      kind: 'group',
      memberIds: members.slice(1).map((m) => people[m]!.id),
    });
    chatIds.push(chat.id);
  }
  // Fetch and verify every chat key and identity now, so the measured sends do not.
  await mapLimit(
    layout.flatMap((members, c) => members.map((m) => ({ c, m, members }))),
    8,
    async ({ c, m, members }) => {
      const p = people[m]!;
      await p.client.chats.key(chatIds[c]!, 0);
      for (const o of members) await p.client.trust.identityOf(people[o]!.id);
    },
  );
  let echoes = 0;
  const unexpectedCloses: string[] = [];
  let closing = false;
  const subs: LiveSubscription[] = await mapLimit(people, 4, (p) =>
    p.client.live({
      onEvent: (e) => {
        if (e.type === 'message') {
          const m = e.message;
          if (m.senderId === p.id) echoes++;
          else if (m.status === 'ok' && m.body) rec.deliver(m.body.text, Date.parse(m.createdAt));
          else rec.receiverError(`vutler message ${m.status}: ${m.reason ?? ''}`);
        } else if (e.type === 'error') {
          rec.receiverError(`vutler ws error: ${e.message}`);
        }
      },
      onClose: (code, reason) => {
        if (!closing) unexpectedCloses.push(`${code} ${reason}`);
      },
    }),
  );
  const closeClients = () => {
    if (closing) return;
    closing = true;
    for (const s of subs) s.close();
  };
  cleanup.add('close live subscriptions', closeClients);
  let accepted = 0;
  const target: Target = {
    name: 'vutler',
    layout,
    send: async (chat, sender, payload) => {
      await people[sender]!.client.chats.send(chatIds[chat]!, payload);
      accepted++;
    },
  };
  return {
    target,
    server,
    dbUrl,
    usedForwardedFor,
    accepted: () => accepted,
    echoes: () => echoes,
    unexpectedCloses,
    closeClients,
  };
}

// --- baseline ------------------------------------------------------------------------------

async function startBaseline(layout: number[][], rec: Recorder, cleanup: Cleanup) {
  const server = startChild(
    'baseline server',
    process.execPath,
    ['--import', 'tsx', path.join(here, 'baseline-server.ts')],
    { cwd: root, env: process.env, killAfterMs: 2_000 },
    cleanup,
  );
  const port = await waitJsonLine<number>(server, 'port', 30_000);
  const roomsOf = Array.from({ length: opts.users }, (_, u) =>
    layout.flatMap((members, c) => (members.includes(u) ? [c] : [])),
  );
  const unexpectedCloses: string[] = [];
  let closing = false;
  const sockets = await Promise.all(
    roomsOf.map(
      (rooms) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/?rooms=${rooms.join(',')}`);
          ws.on('message', (data) => {
            const frame = JSON.parse(data.toString()) as { room: number; text: string };
            rec.deliver(frame.text);
          });
          ws.on('close', (code) => {
            if (!closing) unexpectedCloses.push(String(code));
          });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  cleanup.add('close baseline sockets', () => {
    closing = true;
    for (const s of sockets) s.terminate();
  });
  const target: Target = {
    name: 'baseline',
    layout,
    send: async (chat, sender, payload) => {
      sockets[sender]!.send(JSON.stringify({ room: chat, text: payload }));
    },
  };
  return { target, server, unexpectedCloses };
}

// --- report --------------------------------------------------------------------------------

const f0 = (n: number | null | undefined) =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : String(Math.round(n));
const f1 = (n: number | undefined) =>
  n === undefined || Number.isNaN(n) ? '–' : n < 10 ? n.toFixed(2) : n.toFixed(1);

function table(levels: Level[], results: LevelResult[]): string {
  const get = (t: string, l: string) => results.find((r) => r.target === t && r.level === l);
  const out = [
    '| level (deliveries/s) | Vutler deliveries/s | p50 ms | p99 ms | max ms | baseline deliveries/s | p50 ms | p99 ms | max ms | ratio Vutler/baseline |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const l of levels) {
    const v = get('vutler', l.label);
    const b = get('baseline', l.label);
    const ratio = v && b ? (v.deliveriesPerSec / b.deliveriesPerSec).toFixed(2) : '–';
    out.push(
      `| ${l.label} | ${f0(v?.deliveriesPerSec)} | ${f1(v?.latencyMs.p50)} | ${f1(v?.latencyMs.p99)} | ${f1(v?.latencyMs.max)} | ${f0(b?.deliveriesPerSec)} | ${f1(b?.latencyMs.p50)} | ${f1(b?.latencyMs.p99)} | ${f1(b?.latencyMs.max)} | ${ratio} |`,
    );
  }
  return out.join('\n');
}

function detailTable(results: LevelResult[]): string {
  const out = [
    '| target | level | msgs sent | deliveries / expected | undelivered | shed | send errors | send() p50 / p99 ms | send→stored p50 / p99 ms | stored→delivered p50 / p99 ms | schedule lag p99 ms | CPU % of a core: loadgen+clients / server / postgres / redis / other processes (machine busy) | CPU ms per message: loadgen+clients / server / postgres | loadgen event loop busy |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const c = r.cpu;
    const perMsg = (p: number) => f1((p / 100) * (r.durationMs / Math.max(1, r.messagesSent)));
    const cpu = c
      ? `${c.loadgenAndClients} (${c.loadgenKernel} sys) / ${c.server} (${c.serverKernel} sys) / ${c.postgres} / ${c.redis} / ${c.otherProcesses} (${c.machineBusyPct}%${c.stealPct ? `, ${c.stealPct}% steal` : ''})`
      : '–';
    const cpuPerMsg = c
      ? `${perMsg(c.loadgenAndClients)} / ${perMsg(c.server)} / ${perMsg(c.postgres)}`
      : '–';
    const sp = r.split;
    out.push(
      `| ${r.target} | ${r.level} | ${r.messagesSent} | ${r.deliveries} / ${r.expectedDeliveries} | ${r.lostDeliveries} | ${r.shed} | ${r.sendFailures} | ${f1(r.sendCallMs.p50)} / ${f1(r.sendCallMs.p99)} | ${sp ? `${f1(sp.sendToStoredMs.p50)} / ${f1(sp.sendToStoredMs.p99)}` : '–'} | ${sp ? `${f1(sp.storedToDeliveredMs.p50)} / ${f1(sp.storedToDeliveredMs.p99)}` : '–'} | ${r.offeredPerSec === null ? '–' : f1(r.scheduleLagMs.p99)} | ${cpu} | ${cpuPerMsg} | ${c ? `${c.loadgenEventLoopPct}%` : '–'} |`,
    );
  }
  return out.join('\n');
}

// --- main ----------------------------------------------------------------------------------

async function main(cleanup: Cleanup): Promise<number> {
  const tag = randomBytes(5).toString('hex');
  if (opts.mode === 'server') {
    return runServerMode(
      {
        users: opts.users,
        chats: opts.chats,
        members: opts.members,
        durationS: opts.durationS,
        drainS: opts.drainS,
        maxInFlight: opts.maxInFlight,
        levels: opts.levels,
        maxRate: opts.maxRate,
        adminUrl: opts.adminUrl,
        redisUrl: opts.redisUrl,
        root,
        resultsDir,
        serverProf: opts.serverProf,
      },
      cleanup,
      tag,
    );
  }
  const layout = makeLayout(opts.users, opts.chats, opts.members, 0xc4a7);
  const rec = new Recorder();
  const notes: string[] = [];
  const cpus = os.cpus();
  const t0 = Date.now();

  const wantV = opts.only !== 'baseline';
  const wantB = opts.only !== 'vutler';
  const vutler = wantV ? await startVutler(layout, rec, cleanup, tag) : undefined;
  const baseline = wantB ? await startBaseline(layout, rec, cleanup) : undefined;
  console.log(
    `setup: ${opts.users} users, ${opts.chats} group chats of ${opts.members} (fan-out ${opts.members - 1}), ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (vutler?.usedForwardedFor) {
    notes.push(
      `More than ${LIMITS.registerIp.points} users: the bench server ran with VUTLER_TRUST_PROXY=true and each person registered from its own X-Forwarded-For address (register is limited to ${LIMITS.registerIp.points}/hour per IP).`,
    );
  }

  const sides: { target: Target; pid: () => number | undefined }[] = [];
  if (vutler) sides.push({ target: vutler.target, pid: () => vutler.server.pid });
  if (baseline) sides.push({ target: baseline.target, pid: () => baseline.server.pid });

  // Warm-up (JIT, connection pools, PostgreSQL caches): not recorded.
  for (const s of sides) {
    await rec.runLevel(
      s.target,
      { label: 'warmup', deliveriesPerSec: 600 },
      `w${s.target.name[0]}`,
      levelOptions(1, 2500),
    );
  }

  const results: LevelResult[] = [];
  for (const [li, level] of opts.levels.entries()) {
    for (const s of sides) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await rec.runLevel(s.target, level, `L${li}${s.target.name[0]}`, {
        ...levelOptions(1000 + li),
        measureCpu: () => cpuMeter(s.pid),
      });
      results.push(r);
      console.log(
        `${s.target.name.padEnd(8)} ${level.label.padStart(5)}: ${f0(r.deliveriesPerSec)} deliveries/s, p50 ${f1(r.latencyMs.p50)} ms, p99 ${f1(r.latencyMs.p99)} ms, max ${f1(r.latencyMs.max)} ms${r.lostDeliveries ? `, ${r.lostDeliveries} lost` : ''}${r.sendFailures ? `, ${r.sendFailures} send errors` : ''}`,
      );
    }
  }

  // Persistence check: every accepted message is in PostgreSQL. The server is stopped first so
  // that its backends flush their statistics: idx_messages_chat_seq is only scanned by the hub's
  // gap fill (`ChatService.between`) during the run, so its scan count says how often
  // pub/sub order differed from seq order and a socket went to PostgreSQL for missed messages.
  let persisted: number | undefined;
  let gapFills: number | undefined;
  let pkeyScans: number | undefined;
  if (vutler) {
    vutler.closeClients();
    await new Promise((r) => setTimeout(r, 200));
    await vutler.server.stop();
    await new Promise((r) => setTimeout(r, 300));
    persisted = await countRows(vutler.dbUrl, 'SELECT count(*) AS n FROM messages');
    gapFills = await countRows(
      vutler.dbUrl,
      `SELECT COALESCE(sum(idx_scan), 0) AS n FROM pg_stat_user_indexes WHERE indexrelname = 'idx_messages_chat_seq'`,
    );
    // Sanity check that the statistics were flushed: every POST looks its id up by primary key.
    pkeyScans = await countRows(
      vutler.dbUrl,
      `SELECT COALESCE(sum(idx_scan), 0) AS n FROM pg_stat_user_indexes WHERE indexrelname = 'messages_pkey'`,
    );
    if (gapFills > 0)
      notes.push(
        `The hub ran ${gapFills} gap-fill queries (\`ChatService.between\`, counted as scans of idx_messages_chat_seq): messages of a chat were published out of seq order at least once, and every member socket of that chat then read the missed message from PostgreSQL on its own.`,
      );
    if (persisted !== vutler.accepted()) {
      notes.push(
        `PostgreSQL holds ${persisted} messages but the server accepted ${vutler.accepted()}.`,
      );
    }
  }

  // Server-side warnings and errors (LOG_LEVEL=warn), grouped by message.
  const serverLog: Record<string, number> = {};
  for (const line of vutler?.server.lines ?? []) {
    let key = line.slice(0, 160);
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string };
      key = `${j.level ?? '?'} ${j.msg ?? ''}`;
    } catch {
      // plain text
    }
    serverLog[key] = (serverLog[key] ?? 0) + 1;
  }

  const get = (t: string, l: string) => results.find((r) => r.target === t && r.level === l);
  const vMax = get('vutler', 'max');
  const bMax = get('baseline', 'max');
  const ratioAtMax = vMax && bMax ? vMax.deliveriesPerSec / bMax.deliveriesPerSec : undefined;
  const vAt = get('vutler', String(TARGET_P99_LEVEL));
  const p99At = vAt?.latencyMs.p99;
  const keptUp = vAt
    ? vAt.deliveriesPerSec >= 0.95 * TARGET_P99_LEVEL && vAt.lostDeliveries === 0
    : undefined;
  const verdict = {
    throughput:
      ratioAtMax === undefined
        ? 'not measured (needs both targets and a "max" level)'
        : `${ratioAtMax >= TARGET_RATIO ? 'MET' : 'MISSED'}: Vutler/baseline deliveries/s at max = ${ratioAtMax.toFixed(3)} (target ≥ ${TARGET_RATIO})`,
    latency:
      p99At === undefined
        ? `not measured (needs a ${TARGET_P99_LEVEL} level for Vutler)`
        : `${p99At <= TARGET_P99_MS && keptUp ? 'MET' : 'MISSED'}: Vutler p99 at ${TARGET_P99_LEVEL} deliveries/s = ${p99At.toFixed(1)} ms (target ≤ ${TARGET_P99_MS} ms), achieved ${f0(vAt?.deliveriesPerSec)} deliveries/s${vAt?.lostDeliveries ? `, ${vAt.lostDeliveries} lost` : ''}`,
  };

  for (const r of results) {
    if (r.target !== 'vutler' || !r.cpu) continue;
    const c = r.cpu;
    const behind = r.offeredPerSec !== null && r.deliveriesPerSec < 0.95 * r.offeredPerSec;
    if (c.loadgenEventLoopPct >= 90)
      notes.push(
        `Vutler ${r.level}: the load generator's event loop (senders' encryption + receivers' decryption + fetch) was ${c.loadgenEventLoopPct}% busy: the generator side is itself a bottleneck here.`,
      );
    else if (c.machineBusyPct >= 90 || behind)
      notes.push(
        `Vutler ${r.level}: the machine was ${c.machineBusyPct}% busy (of a core: load generator and clients ${c.loadgenAndClients}%, server ${c.server}%, PostgreSQL ${c.postgres}%, Redis ${c.redis}%); the generator's event loop was ${c.loadgenEventLoopPct}% busy, so the limit is the shared CPU rather than the generator alone.`,
      );
  }
  if (vAt?.cpu && vAt.cpu.machineBusyPct >= 75)
    notes.push(
      `At ${TARGET_P99_LEVEL} deliveries/s the machine was already ${vAt.cpu.machineBusyPct}% busy: close to saturation, where p99 swings widely from run to run.`,
    );
  if (vutler?.unexpectedCloses.length)
    notes.push(`Vutler live sockets closed unexpectedly: ${vutler.unexpectedCloses.join(', ')}`);
  if (baseline?.unexpectedCloses.length)
    notes.push(`Baseline sockets closed unexpectedly: ${baseline.unexpectedCloses.join(', ')}`);
  if (Object.keys(rec.receiverErrors).length)
    notes.push(`Receiver errors: ${JSON.stringify(rec.receiverErrors)}`);
  if (rec.unexpected) notes.push(`${rec.unexpected} deliveries did not match a pending message.`);
  if (rec.late)
    notes.push(
      `${rec.late} deliveries arrived after their level had closed (counted as undelivered there).`,
    );
  for (const r of results) {
    if (Object.keys(r.errors).length)
      notes.push(`${r.target} ${r.level}: send errors ${JSON.stringify(r.errors)}`);
  }

  const header = [
    `${opts.users} users, ${opts.chats} group chats of ${opts.members} members (each message = ${opts.members - 1} deliveries), ${opts.durationS} s per level, "max" = ${opts.maxInFlight} messages in flight. ${process.version}, ${cpus.length}× ${cpus[0]?.model ?? 'unknown'}: server, PostgreSQL, Redis and the load generator (all clients, with their encryption and decryption) share these cores.`,
    "Vutler: real server process, every send is `client.chats.send` (GET chat, encrypt + sign, POST, persisted in PostgreSQL), a delivery is a decrypted and signature-verified message on another member's `client.live` subscription (the sender also gets its own message back, and decrypts it; not counted). Baseline: bare `ws` relay process, no auth, persistence or crypto. Latency runs from the scheduled send time (open loop) to the receiver's callback.",
  ];
  const md = [
    '# bench/chat',
    '',
    ...header.flatMap((h) => [h, '']),
    table(opts.levels, results),
    '',
    detailTable(results),
    '',
    `**Throughput target** — ${verdict.throughput}`,
    '',
    `**Latency target** — ${verdict.latency}`,
    '',
    ...(persisted !== undefined
      ? [`PostgreSQL holds ${persisted} messages; the server accepted ${vutler?.accepted()}.`, '']
      : []),
    ...(Object.keys(serverLog).length
      ? [
          'Server log (warn and above, by pino level and message):',
          '',
          ...Object.entries(serverLog).map(([k, n]) => `- ${n}× ${k}`),
          '',
        ]
      : ['Server log: no warnings or errors.', '']),
    ...(notes.length ? ['Notes:', '', ...notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
  console.log(`\n${md}`);

  mkdirSync(resultsDir, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    config: {
      users: opts.users,
      chats: opts.chats,
      members: opts.members,
      durationS: opts.durationS,
      maxInFlight: opts.maxInFlight,
      levels: opts.levels.map((l) => l.label),
      trustProxyForRegistration: vutler?.usedForwardedFor ?? false,
    },
    results,
    ratioAtMax: ratioAtMax === undefined ? null : +ratioAtMax.toFixed(3),
    p99AtTargetLevelMs: p99At === undefined ? null : +p99At.toFixed(2),
    targets: {
      ratioAtMax: TARGET_RATIO,
      p99Ms: TARGET_P99_MS,
      atDeliveriesPerSec: TARGET_P99_LEVEL,
    },
    verdict,
    persistedMessages: persisted ?? null,
    gapFillQueries: gapFills ?? null,
    messagesPkeyScans: pkeyScans ?? null,
    acceptedMessages: vutler?.accepted() ?? null,
    echoesToSender: vutler?.echoes() ?? null,
    serverLog,
    notes,
  };
  writeFileSync(path.join(resultsDir, 'chat.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, 'chat.md'), md);
  console.log(`wrote ${path.relative(root, path.join(resultsDir, 'chat.json'))} and chat.md`);
  return 0;
}

const cleanup = new Cleanup();
let exiting = false;
const abort = (why: string, code: number) => {
  if (exiting) return;
  exiting = true;
  console.error(`\nbench/chat: ${why}, cleaning up…`);
  void cleanup.run().finally(() => process.exit(code));
};
process.on('SIGINT', () => abort('interrupted', 130));
process.on('SIGTERM', () => abort('terminated', 143));
process.on('SIGHUP', () => abort('hung up', 129));
const watchdog = setTimeout(
  () => abort(`still running after ${WATCHDOG_MS / 1000} s`, 1),
  WATCHDOG_MS,
);

let code = 1;
try {
  code = await main(cleanup);
} catch (err) {
  console.error(`bench/chat failed: ${(err as Error).stack ?? String(err)}`);
  code = 1;
} finally {
  clearTimeout(watchdog);
  if (!exiting) {
    exiting = true;
    await cleanup.run();
  }
}
process.exit(code);
