/**
 * MCP benchmark (not a test): `npm run bench mcp` or `npx tsx bench/mcp/index.ts [--duration 8
 * --concurrency 16 --messages 50]`. Env: BENCH_DATABASE_URL, BENCH_REDIS_URL.
 *
 * Vutler: the real server (`node bin/vutler.js serve`, child process, fresh database and Redis
 * prefix); one chat of `messages` messages granted to an agent; `concurrency` SDK clients
 * (`Client` + `StreamableHTTPClientTransport`) each calling `read_messages` (limit = messages) in
 * a closed loop: token check, permission check, membership, grant unwrap, N decryptions +
 * signature checks, audit insert, per call. Baseline: a bare MCP SDK server with one constant
 * tool (bench/mcp/baseline-server.ts), same transport and client, same run.
 * Also measures in-process what the crypto of one call costs (grant unwrap, N opens), so the
 * server CPU per call can be split into crypto, and the rest (HTTP, MCP, SQL, JSON).
 *
 * The server remembers Ed25519 verification results (src/node-crypto.ts), and this bench reads
 * the same N messages every call, so the cache always hits: Vutler also runs a second time with
 * the cache off (VUTLER_VERIFY_CACHE_ENTRIES=0, every signature checked every call), the figure
 * for pages no call has read before. Both are printed side by side. `--no-cold` skips it.
 * The server is profiled (`--cpu-prof`) in a third run of its own, so the measured runs pay no
 * profiler; `--no-server-prof` skips it.
 */
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { VutlerClient } from '../../src/client/index.ts';
import { generateChatKey } from '../../src/crypto/chatkeys.ts';
import {
  createGrant,
  generateGatewayKeys,
  openGrant,
  parseGatewayKeys,
} from '../../src/crypto/grants.ts';
import { generateKeyPairsRaw } from '../../src/crypto/identity.ts';
import { openMessage, sealMessage } from '../../src/crypto/messages.ts';
import { uuidv7 } from '../../src/crypto/uuid.ts';
import { installNodeCrypto } from '../../src/node-crypto.ts';
import {
  backendPids,
  Cleanup,
  countRows,
  cpuMeter,
  createDatabase,
  dropRedisPrefix,
  freePort,
  startChild,
  waitJsonLine,
  waitReady,
} from '../chat/services.ts';
import type { SummaryRow } from '../report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const resultsDir = path.resolve(here, '../results');

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '16' },
    messages: { type: 'string', default: '50' },
    /**
     * Profile the Vutler server (--cpu-prof) and split its main-thread time by package: in a
     * run of its own after the measured ones (the sampling profiler costs the server ~10 % of
     * its CPU, which the unprofiled baseline would not pay).
     */
    'server-prof': { type: 'boolean', default: true },
    /** Copy the cache-on server's .cpuprofile here (open it in Chrome DevTools). */
    'prof-out': { type: 'string' },
    /** Also run Vutler with the verification cache off. */
    cold: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const DURATION_S = Number(args.duration);
const CONCURRENCY = Number(args.concurrency);
const MESSAGES = Number(args.messages);
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface RunResult {
  calls: number;
  errors: number;
  callsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  serverCpuMsPerCall: number;
  cpu: ReturnType<ReturnType<typeof cpuMeter>>;
  /** Vutler only: the bench database's own backends (not every postgres process on the box). */
  db?: { pgCpuMsPerCall: number };
  /** Vutler only: statements (transactions) in the bench database per call, warm-up included. */
  statementsPerCall?: number;
}

/** Committed + rolled-back transactions of `database` so far (autocommit: one per statement). */
async function xacts(database: string): Promise<number> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    // Backends flush their counters when idle for a moment: ask for a fresh snapshot.
    await c.query('SELECT pg_stat_clear_snapshot()');
    const r = await c.query<{ n: string }>(
      'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
      [database],
    );
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

function pct(sorted: number[], p: number) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : 0;
}

async function drive(
  url: string,
  headers: Record<string, string>,
  call: { name: string; arguments: Record<string, unknown> },
  serverPid: number,
  check: (r: Awaited<ReturnType<Client['callTool']>>) => boolean,
  /** The server's database: its backends' CPU per call. */
  database?: string,
): Promise<RunResult> {
  const clients = await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const c = new Client({ name: 'bench', version: '1.0.0' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
      );
      return c;
    }),
  );
  // Warm-up: JIT, pools, caches of the schema compiler.
  const warmEnd = Date.now() + 1500;
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < warmEnd) await c.callTool(call);
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const pgPids = database ? await backendPids(adminUrl, database) : undefined;
  const dbMeter = pgPids ? cpuMeter(() => undefined, pgPids) : undefined;
  const meter = cpuMeter(() => serverPid);
  const t0 = performance.now();
  const end = t0 + DURATION_S * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          const r = await c.callTool(call);
          if (!check(r)) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = meter();
  const dbCpu = dbMeter?.();
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  const calls = latencies.length;
  const db = dbCpu ? { pgCpuMsPerCall: ((dbCpu.postgres / 100) * secs * 1000) / calls } : undefined;
  return {
    calls,
    errors,
    callsPerSec: calls / secs,
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? 0,
    serverCpuMsPerCall: cpu ? ((cpu.server / 100) * secs * 1000) / calls : 0,
    cpu,
    db,
  };
}

interface CryptoCost {
  grantUnwrapMs: number;
  openMessagesMs: number;
  cpuMsPerCall: number;
  grantCpuMs: number;
  openCpuMs: number;
}

/** In-process cost of one call's crypto: one grant unwrap and N verify+decrypts. */
async function cryptoPerCall(): Promise<{ warm: CryptoCost; cold: CryptoCost }> {
  const gw = await generateGatewayKeys();
  const keys = await parseGatewayKeys(gw.serialized);
  const owner = await generateKeyPairsRaw();
  const ck = await generateChatKey(globalThis.crypto.randomUUID(), 0);
  const { envelope, context } = await createGrant({
    userId: 'u',
    agentId: 'a',
    subject: { resourceType: 'chat', chatKey: ck },
    terms: { grantId: 'g', accessLevel: 'decrypt_ephemeral', expiresAt: null },
    gatewayX25519PublicKey: keys.x25519.publicKey,
    ownerSigningKey: owner.keys.ed25519.privateKey,
  });
  const sealed = await Promise.all(
    Array.from({ length: MESSAGES }, async () => {
      const messageId = uuidv7();
      const header = {
        messageId,
        sender: { kind: 'user' as const, userId: 'u' },
        chain: { chainId: new Uint8Array(16), counter: 0, prev: new Uint8Array(32) },
        mentions: [],
        decryptionPermissions: {},
      };
      const m = await sealMessage({
        chatKey: ck,
        header,
        body: { text: 'x'.repeat(200), replyTo: null, attachments: [] },
        signingKey: owner.keys.ed25519.privateKey,
      });
      return { header, ...m };
    }),
  );
  const measure = async (verifyCacheEntries: number): Promise<CryptoCost> => {
    // As the server does (createServices): node:crypto hooks, with or without the cache.
    installNodeCrypto({ verifyCacheEntries });
    const round = async () => {
      const c0 = process.cpuUsage();
      const a = performance.now();
      const opened = await openGrant({
        context,
        envelope,
        ownerEd25519PublicKey: owner.raw.ed25519Public,
        gateway: keys,
      });
      const b = performance.now();
      const c1 = process.cpuUsage(c0);
      if (opened.resourceType !== 'chat') throw new Error('bad grant');
      await Promise.all(
        sealed.map((m) =>
          openMessage({
            chatKey: opened.chatKey,
            header: m.header,
            encryptedContent: m.encryptedContent,
            signature: m.signature,
            signerEd25519PublicKey: owner.raw.ed25519Public,
          }),
        ),
      );
      const c2 = process.cpuUsage(c0);
      return {
        grantMs: b - a,
        openMs: performance.now() - b,
        grantCpu: (c1.user + c1.system) / 1000,
        openCpu: (c2.user + c2.system - c1.user - c1.system) / 1000,
      };
    };
    for (let i = 0; i < 5; i++) await round();
    const rounds = 40;
    const sum = { grantMs: 0, openMs: 0, grantCpu: 0, openCpu: 0 };
    for (let i = 0; i < rounds; i++) {
      const r = await round();
      sum.grantMs += r.grantMs;
      sum.openMs += r.openMs;
      sum.grantCpu += r.grantCpu;
      sum.openCpu += r.openCpu;
    }
    return {
      grantUnwrapMs: sum.grantMs / rounds,
      openMessagesMs: sum.openMs / rounds,
      grantCpuMs: sum.grantCpu / rounds,
      openCpuMs: sum.openCpu / rounds,
      cpuMsPerCall: (sum.grantCpu + sum.openCpu) / rounds,
    };
  };
  const cold = await measure(0);
  const warm = await measure(50_000);
  return { warm, cold };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
}

/** Main-thread self time of a V8 .cpuprofile, grouped by where the code lives. */
function profileSplit(dir: string): { group: string; pct: number }[] {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [];
  const prof = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
  const groups = new Map<string, number>();
  let total = 0;
  const groupOf = (n: ProfileNode): string | undefined => {
    const { url, functionName } = n.callFrame;
    if (functionName === '(idle)') return undefined;
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(program)' || url === '') return 'native / runtime';
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    if (pkg === '@modelcontextprotocol/sdk')
      return 'MCP SDK (JSON-RPC, schemas, output validation)';
    if (pkg === 'zod') return 'zod (input/output validation)';
    if (pkg === 'pg' || pkg === 'pg-protocol' || pkg === 'pg-types') return 'pg driver';
    if (pkg === 'ioredis' || pkg === 'rate-limiter-flexible') return 'Redis client';
    if (pkg === 'hono' || pkg?.startsWith('@hono')) return 'Hono / node-server';
    if (pkg === 'pino' || pkg === 'sonic-boom') return 'logging';
    if (pkg) return 'other packages';
    if (url.includes('/src/crypto/')) return 'src/crypto (JS side of WebCrypto calls)';
    if (url.includes('/src/')) return 'Vutler src (gateway, tools, auth)';
    if (url.startsWith('node:internal/crypto') || url.includes('webcrypto'))
      return 'node WebCrypto (main thread)';
    if (url.startsWith('node:')) return 'node core (http, streams, buffers)';
    return 'other';
  };
  for (const n of prof.nodes) {
    const g = groupOf(n);
    const hits = n.hitCount ?? 0;
    if (!g || hits === 0) continue;
    groups.set(g, (groups.get(g) ?? 0) + hits);
    total += hits;
  }
  return [...groups.entries()]
    .map(([group, hits]) => ({ group, pct: Math.round((hits / total) * 1000) / 10 }))
    .sort((a, b) => b.pct - a.pct);
}

async function runVutler(
  cleanup: Cleanup,
  verifyCache: boolean,
  profiled = false,
): Promise<{ result: RunResult; auditRows: number; profile: { group: string; pct: number }[] }> {
  const tag = randomBytes(4).toString('hex');
  const database = `vutler_bench_mcp_${tag}`;
  const dbUrl = await createDatabase(adminUrl, database, cleanup);
  const prefix = `benchmcp${tag}`;
  cleanup.add('drop redis keys', async () => void (await dropRedisPrefix(redisUrl, prefix)));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vutler-bench-mcp-'));
  cleanup.add('remove data dir', () => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(VUTLER_|DATABASE_|REDIS_)/.test(k)) env[k] = v;
  Object.assign(env, {
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    VUTLER_REDIS_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    VUTLER_DATA_DIR: dataDir,
    VUTLER_GATEWAY_RATE_TOOL: '1000000/1',
    VUTLER_GATEWAY_RATE_USER: '1000000/1',
    VUTLER_VERIFY_CACHE_ENTRIES: verifyCache ? '50000' : '0',
  });
  const profDir = mkdtempSync(path.join(os.tmpdir(), 'vutler-bench-mcp-prof-'));
  cleanup.add('remove profile dir', () => rmSync(profDir, { recursive: true, force: true }));
  const prof = profiled ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const server = startChild(
    'vutler server',
    process.execPath,
    [...prof, 'bin/vutler.js', 'serve'],
    { cwd: root, env, killAfterMs: 5000 },
    cleanup,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(`${baseUrl}/ready`, server, 60_000);
  const kdf = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
  const people = [
    new VutlerClient({ baseUrl, kdfCost: kdf, allowWeakKdf: true }),
    new VutlerClient({ baseUrl, kdfCost: kdf, allowWeakKdf: true }),
  ];
  const [alice, bob] = people as [VutlerClient, VutlerClient];
  await alice.registerWithEncryption({
    email: `alice-${tag}@example.com`,
    passphrase: 'bench passphrase a',
  });
  await bob.registerWithEncryption({
    email: `bob-${tag}@example.com`,
    passphrase: 'bench passphrase b',
  });
  const chat = await alice.chats.create({ kind: 'direct', memberIds: [bob.user!.id] });
  for (let i = 0; i < MESSAGES; i++)
    await (i % 2 ? bob : alice).chats.send(chat.id, `message ${i} ${'x'.repeat(180)}`);
  const { token } = await alice.createAgentToken({ agentName: 'bench' });
  await alice.agents.setPermission({
    agentName: 'bench',
    resourceType: 'chat',
    accessLevel: 'decrypt_ephemeral',
  });
  await alice.agents.grantChat(chat.id, 'bench');
  // An idle backend reports its counters to pg_stat_database within 10 s: let the set-up's land
  // before counting, and count again once the server (and so every backend) has exited.
  await new Promise((r) => setTimeout(r, 10_500));
  const xacts0 = await xacts(database);
  const result = await drive(
    `${baseUrl}/mcp`,
    { authorization: `Bearer ${token}` },
    { name: 'read_messages', arguments: { chatId: chat.id, limit: MESSAGES } },
    server.pid,
    (r) =>
      !r.isError &&
      (r.structuredContent as { messages: { status: string }[] }).messages.filter(
        (m) => m.status === 'ok',
      ).length === MESSAGES,
    database,
  );
  await server.stop();
  await new Promise((r) => setTimeout(r, 500));
  const statements = (await xacts(database)) - xacts0;
  const auditRows = await countRows(
    dbUrl,
    `SELECT count(*) AS n FROM decryption_audit_log WHERE tool_name = 'read_messages'`,
  );
  // One audit row per call, warm-up included: every statement the server ran, per call.
  result.statementsPerCall = statements / auditRows;
  const out = args['prof-out'];
  if (out && profiled)
    for (const f of readdirSync(profDir)) copyFileSync(path.join(profDir, f), path.join(out, f));
  return { result, auditRows, profile: profiled ? profileSplit(profDir) : [] };
}

async function runBaseline(cleanup: Cleanup): Promise<RunResult> {
  const server = startChild(
    'baseline',
    process.execPath,
    ['--import', 'tsx', path.join(here, 'baseline-server.ts')],
    { cwd: root, env: process.env, killAfterMs: 2000 },
    cleanup,
  );
  const port = await waitJsonLine<number>(server, 'port', 30_000);
  const r = await drive(
    `http://127.0.0.1:${port}/mcp`,
    {},
    { name: 'constant', arguments: {} },
    server.pid,
    (x) => !x.isError,
  );
  await server.stop();
  return r;
}

const cleanup = new Cleanup();
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const load = () => os.loadavg().map((l) => Math.round(l * 100) / 100);
try {
  const loadStart = load();
  const crypto = await cryptoPerCall();
  const baseline = await runBaseline(cleanup);
  const warm = await runVutler(cleanup, true);
  const cold = args.cold ? await runVutler(cleanup, false) : undefined;
  const profile = args['server-prof'] ? (await runVutler(cleanup, true, true)).profile : [];
  const loadEnd = load();
  const vutler = warm.result;
  const ratioOf = (r: RunResult) => r.callsPerSec / baseline.callsPerSec;
  const ratio = ratioOf(vutler);
  const row = (name: string, r: RunResult) =>
    `| ${name} | ${r.calls} | ${r.errors} | ${f1(r.callsPerSec)} | ${f2(ratioOf(r))} | ${f2(r.p50)} | ${f2(r.p99)} | ${f2(r.max)} | ${f2(r.serverCpuMsPerCall)} | ${r.cpu?.server ?? '–'} / ${r.cpu?.postgres ?? '–'} / ${r.cpu?.redis ?? '–'} / ${r.cpu?.loadgenAndClients ?? '–'} (${r.cpu?.machineBusyPct ?? '–'}% busy) |`;
  const split = (label: string, r: RunResult, c: CryptoCost) => {
    const rest = r.serverCpuMsPerCall - c.cpuMsPerCall - baseline.serverCpuMsPerCall;
    return `- **${label}**: ${f2(r.serverCpuMsPerCall)} ms = transport, MCP and JSON as in the baseline ≈ ${f2(baseline.serverCpuMsPerCall)} ms + crypto (measured in process) ≈ ${f2(c.cpuMsPerCall)} ms (one grant unwrap ${f2(c.grantCpuMs)} ms CPU / ${f2(c.grantUnwrapMs)} ms wall; ${MESSAGES} signature checks + decryptions ${f2(c.openCpuMs)} ms CPU / ${f2(c.openMessagesMs)} ms wall) + the rest ≈ ${f2(Math.max(0, rest))} ms: token, rate limits, permission/membership/grant/pin/message SQL round trips, the audit insert, zod output validation and the larger JSON.`;
  };
  const verdicts = (r: RunResult) =>
    `${ratioOf(r) >= 0.5 ? 'MET' : 'MISSED'} (ratio ${f2(ratioOf(r))}, target ≥ 0.5) · p99 ${r.p99 <= 50 ? 'MET' : 'MISSED'} (${f2(r.p99)} ms, target ≤ 50 ms)`;
  const md = [
    '# bench/mcp',
    '',
    `\`read_messages\` of ${MESSAGES} messages at concurrency ${CONCURRENCY} (${DURATION_S} s closed loop after 1.5 s warm-up) through the MCP SDK client over stateless Streamable HTTP, against a bare MCP SDK server with one constant tool on the same transport and client. ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model.trim() ?? 'cpu'}: server, PostgreSQL, Redis and the clients share these cores. Load average (1/5/15 min) at start ${loadStart.join(' / ')}, at end ${loadEnd.join(' / ')}.`,
    '',
    'Vutler runs twice: with the Ed25519 verification cache on (the default; this bench reads the same messages every call, so after the first call every signature is a hit) and with it off (`VUTLER_VERIFY_CACHE_ENTRIES=0`: every signature checked every call — what a page no call has read before costs).',
    '',
    '| target | calls | errors | calls/s | ÷ baseline | p50 ms | p99 ms | max ms | server CPU ms/call | CPU % of a core: server / postgres / redis / clients |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    row('vutler read_messages, verify cache on', vutler),
    ...(cold ? [row('vutler read_messages, verify cache off', cold.result)] : []),
    row('baseline constant tool', baseline),
    '',
    `**Cache on** — throughput ${verdicts(vutler)}`,
    '',
    ...(cold ? [`**Cache off** — throughput ${verdicts(cold.result)}`, ''] : []),
    'Where one call’s server CPU goes:',
    '',
    split('cache on', vutler, crypto.warm),
    ...(cold ? [split('cache off', cold.result, crypto.cold)] : []),
    '',
    `Audit rows written: ${warm.auditRows}${cold ? ` and ${cold.auditRows}` : ''} (one per call, warm-up included).`,
    '',
    ...(vutler.db
      ? [
          `PostgreSQL per call, the bench database's own backends only (the column above counts every postgres process on the machine): cache on ${f2(vutler.db.pgCpuMsPerCall)} ms CPU and ${f1(vutler.statementsPerCall ?? 0)} statements (transactions, over every call of the run)${cold?.result.db ? `; cache off ${f2(cold.result.db.pgCpuMsPerCall)} ms and ${f1(cold.result.statementsPerCall ?? 0)}` : ''}.`,
          '',
        ]
      : []),
    ...(profile.length
      ? [
          'Vutler server (cache on) main thread, in a third, profiled run (not the measured one: the profiler slows the server), whole run (setup included), by self time (`--cpu-prof`; WebCrypto work on the libuv thread pool is not in it but is in the CPU column above):',
          '',
          '| where | % of main-thread samples |',
          '|---|---:|',
          ...profile.slice(0, 12).map((p) => `| ${p.group} | ${p.pct} |`),
          '',
        ]
      : []),
  ].join('\n');
  const summary: SummaryRow[] = [];
  const rows = (label: string, r: RunResult) => {
    summary.push(
      {
        figure: `read_messages(${MESSAGES}) at c=${CONCURRENCY}, ${label}: calls/s ÷ bare SDK server`,
        value: Math.round(ratioOf(r) * 1000) / 1000,
        unit: 'ratio',
        baseline: 'bare MCP SDK server, constant tool, same run',
        baselineValue: Math.round(baseline.callsPerSec * 10) / 10,
        target: 'ratio ≥ 0.5',
        met: ratioOf(r) >= 0.5,
      },
      {
        figure: `read_messages(${MESSAGES}) at c=${CONCURRENCY}, ${label}: calls/s`,
        value: Math.round(r.callsPerSec * 10) / 10,
        unit: 'calls/s',
        baseline: 'bare MCP SDK server, constant tool, same run',
        baselineValue: Math.round(baseline.callsPerSec * 10) / 10,
      },
      {
        figure: `read_messages(${MESSAGES}) at c=${CONCURRENCY}, ${label}: p99`,
        value: Math.round(r.p99 * 100) / 100,
        unit: 'ms',
        baseline: 'bare MCP SDK server p99, same run',
        baselineValue: Math.round(baseline.p99 * 100) / 100,
        target: '≤ 50 ms',
        met: r.p99 <= 50,
      },
      {
        figure: `read_messages(${MESSAGES}), ${label}: server CPU per call`,
        value: Math.round(r.serverCpuMsPerCall * 100) / 100,
        unit: 'ms',
        baseline: 'bare MCP SDK server CPU per call',
        baselineValue: Math.round(baseline.serverCpuMsPerCall * 100) / 100,
      },
    );
  };
  rows('verify cache on', vutler);
  if (cold) rows('verify cache off', cold.result);
  console.log(md);
  writeFileSync(path.join(resultsDir, 'mcp.md'), md);
  writeFileSync(
    path.join(resultsDir, 'mcp.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpu: os.cpus()[0]?.model.trim(),
        cpus: os.cpus().length,
        loadAverage: { start: loadStart, end: loadEnd },
        summary,
        profile,
        messages: MESSAGES,
        concurrency: CONCURRENCY,
        durationS: DURATION_S,
        vutler,
        vutlerCacheOff: cold?.result,
        baseline,
        crypto,
        ratio,
        ratioCacheOff: cold ? ratioOf(cold.result) : undefined,
        auditRows: warm.auditRows,
      },
      null,
      2,
    ),
  );
} finally {
  await cleanup.run();
}
