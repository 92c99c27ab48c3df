/**
 * Agent-run benchmark (not a test): `npm run bench agent` (or `npx tsx bench/agent/index.ts`).
 * Env: BENCH_RUNS (200), BENCH_IN_FLIGHT (16), BENCH_PAIRS (6), BENCH_DATABASE_URL, BENCH_REDIS_URL.
 *
 * Mention → agent reply through the whole stack: `vutler serve` and `vutler worker` as child
 * processes on a fresh database and Redis prefix; people are real SDK clients; the model is the
 * Anthropic stand-in with zero latency, scripted as one tool call (read_messages) then an answer.
 * A run is timed from just before `client.chats.send` to the decrypted, verified reply on the
 * sender's WebSocket. Phases: BENCH_RUNS runs one at a time (latency), then BENCH_RUNS runs with
 * BENCH_IN_FLIGHT in flight (runs/s). Baseline in the same run and Redis: raw BullMQ add→process
 * latency (one job at a time) and throughput (addBulk, same concurrency as the worker) with a
 * no-op processor. Where the time goes comes from the agent.status events' arrival times.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { LiveEvent } from '../../src/client/index.ts';
import { generateGatewayKeys } from '../../src/crypto/grants.ts';
import {
  requestText,
  startAnthropicStandIn,
  text,
  toolUse,
} from '../../tests/helpers/anthropic-standin.ts';
import { person } from '../../tests/helpers/people.ts';
import {
  Cleanup,
  createDatabase,
  dropRedisPrefix,
  freePort,
  startChild,
  waitReady,
} from '../chat/services.ts';
import type { SummaryRow } from '../report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const resultsDir = path.resolve(here, '../results');
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 16);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 6);
const CONCURRENCY = 16;
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TARGET_P50 = 150;
const TARGET_P99 = 500;

const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

interface RunTimes {
  total: number;
  /** Arrival of each status after the send started. */
  marks: Partial<Record<'queued' | 'thinking' | 'tool' | 'done', number>>;
}

async function main() {
  const cleanup = new Cleanup();
  const onSignal = () => void cleanup.run().then(() => process.exit(130));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const load = { before: os.loadavg()[0] ?? 0 };
  try {
    const id = randomBytes(5).toString('hex');
    const prefix = `bagent${id}`;
    const dbUrl = await createDatabase(ADMIN_URL, `vutler_bench_agent_${id}`, cleanup);
    cleanup.add('drop redis keys', async () => {
      await dropRedisPrefix(REDIS_URL, prefix);
      await dropRedisPrefix(REDIS_URL, `${prefix}raw`);
    });
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vutler-bench-agent-'));
    cleanup.add('remove data dir', () => rmSync(dataDir, { recursive: true, force: true }));
    const apiKey = `sk-bench-${id}`;
    const standin = await startAnthropicStandIn({ apiKey });
    cleanup.add('stop stand-in', () => standin.close());
    // Zero latency: a tool call on the first turn, the answer once a tool result came back.
    standin.script([], (req) => {
      if (
        requestText(req).includes('"nextBefore"') ||
        JSON.stringify(req.body.messages).includes('tool_result')
      )
        return text('Here is my answer.');
      const chatId = /chat ([0-9a-f-]{36})/.exec(requestText(req))?.[1];
      return toolUse('read_messages', { chatId, limit: 5 });
    });
    const key = (await generateGatewayKeys()).serialized;
    const port = await freePort();
    const common = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: dbUrl,
      REDIS_URL,
      VUTLER_REDIS_PREFIX: prefix,
      VUTLER_GATEWAY_KEY: key,
      VUTLER_DATA_DIR: dataDir,
    };
    const server = startChild(
      'vutler serve',
      process.execPath,
      ['bin/vutler.js', 'serve'],
      { cwd: root, env: { ...common, PORT: String(port), HOST: '127.0.0.1' }, killAfterMs: 5000 },
      cleanup,
    );
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/ready`, server, 60_000);
    const worker = startChild(
      'vutler worker',
      process.execPath,
      ['bin/vutler.js', 'worker'],
      {
        cwd: root,
        env: {
          ...common,
          LOG_LEVEL: 'info',
          ANTHROPIC_API_KEY: apiKey,
          ANTHROPIC_BASE_URL: standin.url,
          ANTHROPIC_MAX_RETRIES: '0',
          VUTLER_WORKER_CONCURRENCY: String(CONCURRENCY),
          VUTLER_GATEWAY_RATE_USER: '1000000/60',
          VUTLER_GATEWAY_RATE_TOOL: '1000000/60',
        },
        killAfterMs: 5000,
      },
      cleanup,
    );
    for (
      const deadline = Date.now() + 60_000;
      !worker.lines.some((l) => l.includes('workers started'));
    ) {
      if (Date.now() > deadline) throw new Error(`worker not ready:\n${worker.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // People: PAIRS direct chats, each owner granted claude.
    // Arrival times by trigger message id, recorded whether or not send() has returned yet.
    const marks = new Map<string, RunTimes['marks']>();
    const replies = new Map<string, number>();
    const waiting = new Map<string, () => void>();
    const pairs: { alice: Awaited<ReturnType<typeof person>>; chat: { id: string } }[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const alice = await person(base, `owner${i}`);
      const bob = await person(base, `peer${i}`);
      const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
      await alice.client.agents.setPermission({
        agentName: 'claude',
        resourceType: 'chat',
        accessLevel: 'decrypt_ephemeral',
        conditions: { allow_write: true },
      });
      await alice.client.agents.grantChat(chat.id, 'claude');
      await alice.client.agents.gateway(); // pins the gateway key, to verify agent replies
      const live = await alice.client.live({
        onEvent: (e: LiveEvent) => {
          const now = performance.now();
          if (e.type === 'agent.status') {
            if (e.status === 'failed') console.error(`run failed: ${e.reason}`);
            else {
              const m = marks.get(e.messageId) ?? {};
              m[e.status] ??= now;
              marks.set(e.messageId, m);
            }
          } else if (e.type === 'message' && e.message.body?.replyTo) {
            // Only the agent's replies answer a message in this benchmark.
            const trigger = e.message.body?.replyTo;
            if (trigger && e.message.status === 'ok' && !replies.has(trigger)) {
              replies.set(trigger, now);
              waiting.get(trigger)?.();
            }
          }
        },
      });
      cleanup.add('close live', () => live.close());
      pairs.push({ alice, chat });
    }

    let n = 0;
    const oneRun = async (): Promise<{ id: string; start: number }> => {
      const pair = pairs[n++ % pairs.length]!;
      const start = performance.now();
      const view = await pair.alice.client.chats.send(pair.chat.id, `@claude question ${n}`, {
        mentions: ['claude'],
      });
      if (!replies.has(view.id)) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((r) => {
          waiting.set(view.id, r);
          timer = setTimeout(r, 30_000);
        });
        clearTimeout(timer);
        waiting.delete(view.id);
      }
      return { id: view.id, start };
    };
    // After a phase, so statuses that arrive after the reply (done) are counted too.
    const timesOf = ({ id, start }: { id: string; start: number }): RunTimes => {
      const rel: RunTimes['marks'] = {};
      for (const [k, v] of Object.entries(marks.get(id) ?? {}))
        rel[k as keyof RunTimes['marks']] = v - start;
      const at = replies.get(id);
      return { total: at === undefined ? Number.NaN : at - start, marks: rel };
    };
    const phase = async (runs: number, inFlight: number) => {
      const runs_: { id: string; start: number }[] = [];
      const linesBefore = worker.lines.length;
      const t0 = performance.now();
      let started = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (started < runs) {
            started++;
            runs_.push(await oneRun());
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 300));
      // The worker's own step timings, from its "agent run finished" log lines.
      const steps: Record<string, number[]> = {};
      for (const l of worker.lines.slice(linesBefore)) {
        if (!l.includes('"agent run finished"')) continue;
        const t = (JSON.parse(l) as { ms?: Record<string, number> }).ms ?? {};
        for (const [k, v] of Object.entries(t)) {
          steps[k] ??= [];
          steps[k].push(v);
        }
      }
      return { results: runs_.map(timesOf), seconds, steps };
    };
    await phase(10, 2); // warm-up: JIT, pools, first token mint
    const serial = await phase(RUNS, 1);
    const loaded = await phase(RUNS, IN_FLIGHT);

    // Baseline: raw BullMQ on the same Redis, no-op processor.
    const conn = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    cleanup.add('close baseline redis', () => void conn.disconnect());
    const rawQueue = new Queue('raw', { connection: conn, prefix: `${prefix}raw` });
    const events = new QueueEvents('raw', { connection: conn.duplicate(), prefix: `${prefix}raw` });
    const seen = new Map<string, () => void>();
    const rawWorker = new Worker(
      'raw',
      async (job) => {
        seen.get(job.id!)?.();
      },
      { connection: conn, prefix: `${prefix}raw`, concurrency: CONCURRENCY },
    );
    cleanup.add('close baseline', async () => {
      await rawWorker.close();
      await events.close();
      await rawQueue.close();
    });
    await rawWorker.waitUntilReady();
    const rawLatency: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const jobId = `l${i}`;
      const t = performance.now();
      const processed = new Promise<void>((r) => seen.set(jobId, r));
      await rawQueue.add('x', { i }, { jobId, removeOnComplete: true });
      await processed;
      rawLatency.push(performance.now() - t);
    }
    const BULK = 2000;
    let left = BULK;
    const allDone = new Promise<void>((r) => {
      rawWorker.on('completed', () => {
        if (--left === 0) r();
      });
    });
    const tb = performance.now();
    await rawQueue.addBulk(
      Array.from({ length: BULK }, (_, i) => ({
        name: 'x',
        data: { i },
        opts: { jobId: `b${i}`, removeOnComplete: true },
      })),
    );
    await allDone;
    const rawPerSecond = BULK / ((performance.now() - tb) / 1000);

    // Report.
    const summary = (
      label: string,
      r: { results: RunTimes[]; seconds: number; steps: Record<string, number[]> },
    ) => {
      const ok = r.results.filter((x) => Number.isFinite(x.total));
      const totals = ok.map((x) => x.total);
      const step = (
        from: keyof RunTimes['marks'] | 'send',
        to: keyof RunTimes['marks'] | 'reply',
      ) =>
        pct(
          ok
            .map(
              (x) =>
                (to === 'reply' ? x.total : (x.marks[to] ?? Number.NaN)) -
                (from === 'send' ? 0 : (x.marks[from] ?? Number.NaN)),
            )
            .filter(Number.isFinite),
          50,
        );
      return {
        label,
        runs: r.results.length,
        replied: ok.length,
        runsPerSecond: ok.length / r.seconds,
        p50: pct(totals, 50),
        p99: pct(totals, 99),
        max: pct(totals, 100),
        steps: {
          'send→queued': step('send', 'queued'),
          'queued→thinking': step('queued', 'thinking'),
          'thinking→tool': step('thinking', 'tool'),
          'tool→done': step('tool', 'done'),
        },
        worker: Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, pct(v, 50)])),
      };
    };
    const rows = [summary('one at a time', serial), summary(`${IN_FLIGHT} in flight`, loaded)];
    const raw = { p50: pct(rawLatency, 50), p99: pct(rawLatency, 99), perSecond: rawPerSecond };
    const s0 = rows[0]!;
    const met = s0.p50 <= TARGET_P50 && s0.p99 <= TARGET_P99;
    const md = [
      '# bench/agent',
      '',
      `${RUNS} mention-triggered runs per phase over ${PAIRS} chats; model = zero-latency stand-in (one read_messages tool call, then an answer); worker concurrency ${CONCURRENCY}. ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}: server, worker, PostgreSQL, Redis and the clients share these cores.`,
      '',
      'A run: `chats.send` (encrypt, sign, POST; outbox row in the same statement) → NOTIFY → relay → BullMQ → worker (mint token, in-process MCP session, read_messages: grant unwrap + decrypt + audit) → model → tool call → model → post_message (seal, sign, audit, store) → fan-out → the sender decrypts and verifies the reply.',
      '',
      '| phase | runs | replied | runs/s | mention→reply p50 ms | p99 ms | max ms |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.label} | ${r.runs} | ${r.replied} | ${r.runsPerSecond.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} |`,
      ),
      `| raw BullMQ (no-op job) | ${RUNS} + ${BULK} | – | ${raw.perSecond.toFixed(0)} | add→processed ${ms(raw.p50)} | ${ms(raw.p99)} | – |`,
      '',
      'Where the time goes (medians of the steps, from agent.status arrival on the WebSocket):',
      '',
      `| phase | ${Object.keys(s0.steps).join(' | ')} |`,
      `|---|${Object.keys(s0.steps)
        .map(() => '---:')
        .join('|')}|`,
      ...rows.map((r) => `| ${r.label} | ${Object.values(r.steps).map(ms).join(' | ')} |`),
      '',
      "Inside the worker (medians, ms, from its log lines): mint = the run's agent token; connect = in-process MCP session + tools/list; context = read_messages (token check, permission, grant unwrap, decrypt + verify, audit); model = both model calls through the SDK; tools = the model's tool call through the gateway; post = post_message (seal, sign, audit, store, fan-out).",
      '',
      `| phase | ${Object.keys(s0.worker).join(' | ')} |`,
      `|---|${Object.keys(s0.worker)
        .map(() => '---:')
        .join('|')}|`,
      ...rows.map(
        (r) =>
          `| ${r.label} | ${Object.keys(s0.worker)
            .map((k) => ms(r.worker[k] ?? Number.NaN))
            .join(' | ')} |`,
      ),
      '',
      `**Target** (one at a time: p50 ≤ ${TARGET_P50} ms, p99 ≤ ${TARGET_P99} ms) — ${met ? 'MET' : 'MISSED'}: p50 ${ms(s0.p50)} ms, p99 ${ms(s0.p99)} ms; ratio to raw BullMQ add→process p50: ${(s0.p50 / raw.p50).toFixed(0)}×.`,
      '',
      `Model requests served by the stand-in: ${standin.requests.length}.`,
    ].join('\n');
    console.log(md);
    mkdirSync(resultsDir, { recursive: true });
    const s1 = rows[1]!;
    const summaryRows: SummaryRow[] = [
      {
        figure: 'mention → reply p50, one at a time',
        value: Number(s0.p50.toFixed(1)),
        unit: 'ms',
        baseline: 'raw BullMQ add → processed p50 (no-op job)',
        baselineValue: Number(raw.p50.toFixed(2)),
        target: `≤ ${TARGET_P50} ms`,
        met: s0.p50 <= TARGET_P50,
      },
      {
        figure: 'mention → reply p99, one at a time',
        value: Number(s0.p99.toFixed(1)),
        unit: 'ms',
        baseline: 'raw BullMQ add → processed p99',
        baselineValue: Number(raw.p99.toFixed(2)),
        target: `≤ ${TARGET_P99} ms`,
        met: s0.p99 <= TARGET_P99,
      },
      {
        figure: `agent runs/s, ${IN_FLIGHT} in flight (p99 ${ms(s1.p99)} ms; load average ${load.before.toFixed(1)} → ${os.loadavg()[0]?.toFixed(1)})`,
        value: Number(s1.runsPerSecond.toFixed(1)),
        unit: 'runs/s',
        baseline: 'raw BullMQ no-op jobs/s',
        baselineValue: Math.round(raw.perSecond),
      },
    ];
    writeFileSync(
      path.join(resultsDir, 'agent.json'),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpu: os.cpus()[0]?.model ?? 'unknown',
          cpus: os.cpus().length,
          loadAverage: { before: load.before, after: os.loadavg()[0] },
          rows,
          raw,
          runs: RUNS,
          inFlight: IN_FLIGHT,
          summary: summaryRows,
        },
        null,
        2,
      ),
    );
    writeFileSync(path.join(resultsDir, 'agent.md'), `${md}\n`);
  } finally {
    await cleanup.run();
  }
}

await main();
process.exit(0);
