/**
 * VDrive benchmark (not a test): `npm run bench vdrive` or
 * `node --import tsx bench/vdrive/index.ts [--sizes 256,1024] [--concurrency 8]` (MiB; env
 * BENCH_VDRIVE_SIZES, BENCH_VDRIVE_CONCURRENCY, BENCH_DATABASE_URL, BENCH_REDIS_URL;
 * BENCH_VDRIVE_FETCH=fetch sends chunks over the global fetch instead of nodeUploadFetch;
 * BENCH_VDRIVE_SERVER_NODE_ARGS adds node flags to the server, e.g. `--cpu-prof`).
 *
 * Vutler: the real server (`node bin/vutler.js serve`, fs storage in a temp dir) as a child
 * process; a real `VutlerClient` uploads a generated file of each size through `drive.upload`
 * (FK, chunked AES-GCM, chunk PUTs over `nodeUploadFetch`, complete) and downloads it through
 * `drive.download` (the decrypting stream, every chunk verified). The server's RSS is sampled
 * from /proc every 50 ms; CPU of the client (this process), the server and PostgreSQL is read
 * from /proc and given per MiB, beside the load average (other jobs on a shared machine).
 * Baselines, same bytes in the same run: raw WebCrypto chunk encryption (the same chunk cipher)
 * written to one file with one fsync at the end (the target's baseline), and the same with the
 * server's durability per chunk (own file, fsync, rename, directory fsync: what an acknowledged
 * chunk costs at the least); the reverse is fs reads + decryption. Chunk size 1 MiB.
 * Writes bench/results/vdrive.json (with a `summary`) and bench/results/vdrive.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VutlerClient } from '../../src/client/index.ts';
import { nodeUploadFetch } from '../../src/client/transport-node.ts';
import {
  createChunkCipher,
  DEFAULT_CHUNK_SIZE,
  generateFileKey,
  newFileHeader,
} from '../../src/crypto/files.ts';
import {
  Cleanup,
  cpuMeter,
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
const MiB = 1024 * 1024;
const TARGET_RATIO = 0.5;
const TARGET_RSS_MB = 200;
/** The V8 flag deploy/Dockerfile starts `vutler serve` with. */
const SERVER_NODE_ARGS = '--max-semi-space-size=4';

const { values: args } = parseArgs({
  options: { sizes: { type: 'string' }, concurrency: { type: 'string' } },
  allowPositionals: false,
});
const E = process.env;
const opts = {
  sizes: (args.sizes ?? E.BENCH_VDRIVE_SIZES ?? '256,1024').split(',').map((s) => Number(s.trim())),
  concurrency: Number(args.concurrency ?? E.BENCH_VDRIVE_CONCURRENCY ?? 8),
  adminUrl: E.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: E.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/** `bytes` of plaintext as a stream of 1 MiB pieces (one random block, re-sent: no big buffer). */
function source(bytes: number): ReadableStream<Uint8Array> {
  const block = new Uint8Array(randomBytes(MiB));
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= bytes) return c.close();
      const n = Math.min(MiB, bytes - sent);
      c.enqueue(n === MiB ? block : block.subarray(0, n));
      sent += n;
    },
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Runs `fn` while sampling the server's RSS; returns seconds taken and the peak. */
async function sampled<T>(pid: number, fn: () => Promise<T>) {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(pid));
  }, 50);
  const meter = cpuMeter(() => pid);
  const t0 = performance.now();
  try {
    const value = await fn();
    return {
      seconds: (performance.now() - t0) / 1000,
      peakRssMb: Math.max(peak, rssMb(pid)),
      cpu: meter(),
      value,
    };
  } finally {
    clearInterval(timer);
  }
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.length;
  }
}

/**
 * Raw WebCrypto + the server's durability, per chunk: its own temp file, fsync, rename into a
 * directory, fsync of that directory (one chunk at a time, like the plain baseline).
 */
async function durableBaseline(bytes: number, dir: string): Promise<number> {
  const id = crypto.randomUUID();
  const fk = await generateFileKey(id);
  const cipher = await createChunkCipher(fk, newFileHeader(id, DEFAULT_CHUNK_SIZE));
  const block = new Uint8Array(randomBytes(MiB));
  const count = Math.max(1, Math.ceil(bytes / MiB));
  const root = mkdtempSync(path.join(dir, 'baseline-durable-'));
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const n = Math.min(MiB, bytes - i * MiB);
    const ct = await cipher.encryptChunk(
      i,
      i === count - 1,
      n === MiB ? block : block.subarray(0, n),
    );
    const tmp = path.join(root, `c${i}.tmp`);
    const fh = await open(tmp, 'wx');
    await fh.write(ct);
    await fh.sync();
    await fh.close();
    await rename(tmp, path.join(root, `c${i}`));
    const dh = await open(root, 'r');
    await dh.sync();
    await dh.close();
  }
  const secs = (performance.now() - t0) / 1000;
  rmSync(root, { recursive: true, force: true });
  return secs;
}

/** Raw WebCrypto + fs: encrypt each chunk and write it, fsync; then read and decrypt. */
async function baseline(bytes: number, dir: string) {
  const id = crypto.randomUUID();
  const fk = await generateFileKey(id);
  const cipher = await createChunkCipher(fk, newFileHeader(id, DEFAULT_CHUNK_SIZE));
  const block = new Uint8Array(randomBytes(MiB));
  const count = Math.max(1, Math.ceil(bytes / MiB));
  const file = path.join(dir, `baseline-${id}`);
  const t0 = performance.now();
  const fh = await open(file, 'w');
  for (let i = 0; i < count; i++) {
    const n = Math.min(MiB, bytes - i * MiB);
    const ct = await cipher.encryptChunk(
      i,
      i === count - 1,
      n === MiB ? block : block.subarray(0, n),
    );
    await fh.write(ct);
  }
  await fh.sync();
  await fh.close();
  const up = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const rh = await open(file, 'r');
  const buf = new Uint8Array(MiB + 16);
  for (let i = 0; i < count; i++) {
    const n = Math.min(MiB, bytes - i * MiB) + 16;
    await rh.read(buf, 0, n, null);
    await cipher.decryptChunk(i, i === count - 1, buf.subarray(0, n));
  }
  await rh.close();
  const down = (performance.now() - t1) / 1000;
  rmSync(file, { force: true });
  return { up, down };
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => void cleanup.run().then(() => process.exit(130)));
  try {
    const tag = randomBytes(4).toString('hex');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vutler-bench-vdrive-'));
    cleanup.add('remove data dir', () => rmSync(dataDir, { recursive: true, force: true }));
    const dbUrl = await createDatabase(opts.adminUrl, `vutler_bench_vdrive_${tag}`, cleanup);
    const prefix = `benchv${tag}`;
    cleanup.add('drop redis keys', async () => void (await dropRedisPrefix(opts.redisUrl, prefix)));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env))
      if (!/^(VUTLER_|DATABASE_|REDIS_)/.test(k)) env[k] = v;
    Object.assign(env, {
      DATABASE_URL: dbUrl,
      REDIS_URL: opts.redisUrl,
      VUTLER_REDIS_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'test',
      VUTLER_DATA_DIR: dataDir,
      VUTLER_STORAGE_QUOTA_BYTES: String(8 * 1024 * MiB),
      VUTLER_SHUTDOWN_TIMEOUT_MS: '3000',
    });
    const server = startChild(
      'vutler server',
      process.execPath,
      // e.g. BENCH_VDRIVE_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
      [
        // Default: the V8 flag deploy/Dockerfile runs the server with (BENCH_VDRIVE_SERVER_NODE_ARGS=""
        // for Node's defaults).
        ...(E.BENCH_VDRIVE_SERVER_NODE_ARGS ?? SERVER_NODE_ARGS).split(' ').filter(Boolean),
        'bin/vutler.js',
        'serve',
      ],
      { cwd: root, env, killAfterMs: 5_000 },
      cleanup,
    );
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitReady(`${baseUrl}/ready`, server, 60_000);
    const client = new VutlerClient({
      baseUrl,
      kdfCost: { memoryKiB: 1024, iterations: 1, parallelism: 1 },
      allowWeakKdf: true,
      // What a Node program should pass: chunk bodies go to the socket without fetch's copies.
      ...(E.BENCH_VDRIVE_FETCH === 'fetch' ? {} : { uploadFetch: nodeUploadFetch() }),
    });
    await client.registerWithEncryption({
      email: `bench-${tag}@example.com`,
      passphrase: `bench ${tag}`,
    });
    const idleRssMb = rssMb(server.pid);

    const rows: Array<Record<string, number>> = [];
    for (const mib of opts.sizes) {
      const bytes = mib * MiB;
      const base = await baseline(bytes, dataDir);
      const durableUp = await durableBaseline(bytes, dataDir);
      const up = await sampled(server.pid, () =>
        client.drive.upload(source(bytes), {
          name: `bench-${mib}.bin`,
          size: bytes,
          concurrency: opts.concurrency,
        }),
      );
      const down = await sampled(server.pid, async () =>
        drain(await client.drive.download(up.value.id)),
      );
      if (down.value !== bytes) throw new Error(`downloaded ${down.value} of ${bytes} bytes`);
      await client.drive.delete(up.value.id);
      // % of one core × seconds ÷ MiB = CPU milliseconds per MiB.
      const perMiB = (pct: number | undefined, secs: number) =>
        (((pct ?? Number.NaN) / 100) * secs * 1000) / mib;
      const row = {
        sizeMiB: mib,
        uploadMBs: mib / up.seconds,
        downloadMBs: mib / down.seconds,
        baselineUpMBs: mib / base.up,
        baselineDurableUpMBs: mib / durableUp,
        baselineDownMBs: mib / base.down,
        uploadRatio: base.up / up.seconds,
        uploadRatioDurable: durableUp / up.seconds,
        downloadRatio: base.down / down.seconds,
        serverPeakRssMbUpload: up.peakRssMb,
        serverPeakRssMbDownload: down.peakRssMb,
        upClientCpuMsPerMiB: perMiB(up.cpu?.loadgenAndClients, up.seconds),
        upServerCpuMsPerMiB: perMiB(up.cpu?.server, up.seconds),
        upPostgresCpuMsPerMiB: perMiB(up.cpu?.postgres, up.seconds),
        downClientCpuMsPerMiB: perMiB(down.cpu?.loadgenAndClients, down.seconds),
        downServerCpuMsPerMiB: perMiB(down.cpu?.server, down.seconds),
        upOtherProcessesPctOfCore: up.cpu?.otherProcesses ?? Number.NaN,
        loadAverage1m: os.loadavg()[0]!,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
    const peak = Math.max(
      ...rows.flatMap((r) => [r.serverPeakRssMbUpload!, r.serverPeakRssMbDownload!]),
    );
    const small = rows[0]!;
    const big = rows.at(-1)!;
    const growth =
      Math.max(big.serverPeakRssMbUpload!, big.serverPeakRssMbDownload!) -
      Math.max(small.serverPeakRssMbUpload!, small.serverPeakRssMbDownload!);
    const f = (n: number) => n.toFixed(1);
    const load = os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ');
    const md = [
      '# bench/vdrive',
      '',
      `${new Date().toISOString()}; ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average at the end ${load} (1/5/15 min; client, server, PostgreSQL and anything else share these cores). Server ("node ${E.BENCH_VDRIVE_SERVER_NODE_ARGS ?? SERVER_NODE_ARGS} bin/vutler.js serve", as deploy/Dockerfile runs it) idle RSS ${f(idleRssMb)} MB; chunk size 1 MiB; upload concurrency ${opts.concurrency}; chunk PUTs over ${E.BENCH_VDRIVE_FETCH === 'fetch' ? 'the global fetch' : 'nodeUploadFetch (node:http)'}; loopback, fs storage.`,
      '',
      '| size | upload MB/s | baseline enc+write+1 fsync MB/s | ratio | baseline with per-chunk fsync+rename+dir fsync MB/s | ratio | download MB/s | baseline read+dec MB/s | ratio | server peak RSS up / down (MB) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.sizeMiB} MiB | ${f(r.uploadMBs!)} | ${f(r.baselineUpMBs!)} | ${r.uploadRatio!.toFixed(2)} | ${f(r.baselineDurableUpMBs!)} | ${r.uploadRatioDurable!.toFixed(2)} | ${f(r.downloadMBs!)} | ${f(r.baselineDownMBs!)} | ${r.downloadRatio!.toFixed(2)} | ${f(r.serverPeakRssMbUpload!)} / ${f(r.serverPeakRssMbDownload!)} |`,
      ),
      '',
      'CPU per MiB (ms; from /proc, so independent of how much of the machine others took):',
      '',
      '| size | upload: client | server | PostgreSQL | download: client | server | other processes during upload (% of a core) | load 1 min |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.sizeMiB} MiB | ${f(r.upClientCpuMsPerMiB!)} | ${f(r.upServerCpuMsPerMiB!)} | ${f(r.upPostgresCpuMsPerMiB!)} | ${f(r.downClientCpuMsPerMiB!)} | ${f(r.downServerCpuMsPerMiB!)} | ${f(r.upOtherProcessesPctOfCore!)} | ${f(r.loadAverage1m!)} |`,
      ),
      '',
      `Targets: ratio ≥ ${TARGET_RATIO} each way against the plain baseline (${big.uploadRatio! >= TARGET_RATIO && big.downloadRatio! >= TARGET_RATIO ? 'met' : 'NOT met'}), server peak RSS < ${TARGET_RSS_MB} MB (${peak < TARGET_RSS_MB ? 'met' : 'NOT met'}: ${f(peak)} MB, of which ${f(idleRssMb)} MB idle), RSS growth from ${small.sizeMiB} MiB to ${big.sizeMiB} MiB: ${f(growth)} MB.`,
      '',
      'Fairness: the plain baseline fsyncs once per file; the server acknowledges a chunk only once it is durable (its own file fsynced, renamed, the directory fsynced, the record committed), so the second baseline does that per chunk too. Neither baseline sends anything over a socket or parses HTTP, and both run one chunk at a time in one process.',
      '',
    ].join('\n');
    const summary: SummaryRow[] = [
      {
        figure: `upload ${big.sizeMiB} MiB through VutlerClient`,
        value: big.uploadMBs!,
        unit: 'MB/s',
        baseline: 'WebCrypto chunk encryption + fs write, one fsync',
        baselineValue: big.baselineUpMBs!,
        target: `ratio ≥ ${TARGET_RATIO}`,
        met: big.uploadRatio! >= TARGET_RATIO,
      },
      {
        figure: `upload ${big.sizeMiB} MiB vs a baseline durable per chunk`,
        value: big.uploadMBs!,
        unit: 'MB/s',
        baseline: 'the same + per-chunk fsync, rename, dir fsync',
        baselineValue: big.baselineDurableUpMBs!,
      },
      {
        figure: `download ${big.sizeMiB} MiB through VutlerClient`,
        value: big.downloadMBs!,
        unit: 'MB/s',
        baseline: 'fs read + WebCrypto chunk decryption',
        baselineValue: big.baselineDownMBs!,
        target: `ratio ≥ ${TARGET_RATIO}`,
        met: big.downloadRatio! >= TARGET_RATIO,
      },
      {
        figure: 'server peak RSS (upload and download)',
        value: peak,
        unit: 'MB',
        baseline: 'server idle RSS',
        baselineValue: idleRssMb,
        target: `< ${TARGET_RSS_MB} MB`,
        met: peak < TARGET_RSS_MB,
      },
      {
        figure: `server RSS growth ${small.sizeMiB} MiB → ${big.sizeMiB} MiB`,
        value: growth,
        unit: 'MB',
        target: '≈ 0 (flat with size)',
        met: rows.length > 1 && growth < 10,
      },
    ];
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'vdrive.json'),
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpu: os.cpus()[0]?.model,
          cpus: os.cpus().length,
          loadAverage: os.loadavg(),
          concurrency: opts.concurrency,
          summary,
          idleRssMb,
          rows,
          peakRssMb: peak,
          rssGrowthMb: growth,
        },
        null,
        2,
      )}\n`,
    );
    writeFileSync(path.join(resultsDir, 'vdrive.md'), md);
    console.log(`\n${md}`);
    return 0;
  } finally {
    await cleanup.run();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
