/**
 * VDrive benchmark (not a test): `npm run bench vdrive` or
 * `npx tsx bench/vdrive/index.ts [--sizes 256,1024]` (MiB; env BENCH_VDRIVE_SIZES,
 * BENCH_DATABASE_URL, BENCH_REDIS_URL).
 *
 * Vutler: the real server (`node bin/vutler.js serve`, fs storage in a temp dir) as a child
 * process; a real `VutlerClient` uploads a generated file of each size through `drive.upload`
 * (FK, chunked AES-GCM, chunk PUTs, complete) and downloads it through `drive.download` (the
 * decrypting stream, every chunk verified). The server's RSS is sampled from /proc every 50 ms.
 * Baseline, same bytes in the same run: raw WebCrypto chunk encryption (the same chunk cipher)
 * with fs writes and an fsync, and the reverse (fs reads + decryption). Default chunk size 1 MiB.
 * Writes bench/results/vdrive.json and bench/results/vdrive.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VutlerClient } from '../../src/client/index.ts';
import {
  createChunkCipher,
  DEFAULT_CHUNK_SIZE,
  generateFileKey,
  newFileHeader,
} from '../../src/crypto/files.ts';
import {
  Cleanup,
  createDatabase,
  dropRedisPrefix,
  freePort,
  startChild,
  waitReady,
} from '../chat/services.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const resultsDir = path.resolve(here, '../results');
const MiB = 1024 * 1024;
const TARGET_RATIO = 0.5;
const TARGET_RSS_MB = 200;

const { values: args } = parseArgs({
  options: { sizes: { type: 'string' } },
  allowPositionals: false,
});
const E = process.env;
const opts = {
  sizes: (args.sizes ?? E.BENCH_VDRIVE_SIZES ?? '256,1024').split(',').map((s) => Number(s.trim())),
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
  const t0 = performance.now();
  try {
    const value = await fn();
    return {
      seconds: (performance.now() - t0) / 1000,
      peakRssMb: Math.max(peak, rssMb(pid)),
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
      ['bin/vutler.js', 'serve'],
      { cwd: root, env, killAfterMs: 5_000 },
      cleanup,
    );
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitReady(`${baseUrl}/ready`, server, 60_000);
    const client = new VutlerClient({
      baseUrl,
      kdfCost: { memoryKiB: 1024, iterations: 1, parallelism: 1 },
      allowWeakKdf: true,
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
      const up = await sampled(server.pid, () =>
        client.drive.upload(source(bytes), {
          name: `bench-${mib}.bin`,
          size: bytes,
          concurrency: 4,
        }),
      );
      const down = await sampled(server.pid, async () =>
        drain(await client.drive.download(up.value.id)),
      );
      if (down.value !== bytes) throw new Error(`downloaded ${down.value} of ${bytes} bytes`);
      await client.drive.delete(up.value.id);
      const row = {
        sizeMiB: mib,
        uploadMBs: bytes / MiB / up.seconds,
        downloadMBs: bytes / MiB / down.seconds,
        baselineUpMBs: bytes / MiB / base.up,
        baselineDownMBs: bytes / MiB / base.down,
        uploadRatio: base.up / up.seconds,
        downloadRatio: base.down / down.seconds,
        serverPeakRssMbUpload: up.peakRssMb,
        serverPeakRssMbDownload: down.peakRssMb,
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
    const md = [
      '# bench/vdrive',
      '',
      `Server idle RSS ${f(idleRssMb)} MB; chunk size 1 MiB; upload concurrency 4; loopback, fs storage; ${os.cpus().length} cores.`,
      '',
      '| size | upload MB/s | baseline enc+write MB/s | ratio | download MB/s | baseline read+dec MB/s | ratio | server peak RSS up / down (MB) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.sizeMiB} MiB | ${f(r.uploadMBs!)} | ${f(r.baselineUpMBs!)} | ${r.uploadRatio!.toFixed(2)} | ${f(r.downloadMBs!)} | ${f(r.baselineDownMBs!)} | ${r.downloadRatio!.toFixed(2)} | ${f(r.serverPeakRssMbUpload!)} / ${f(r.serverPeakRssMbDownload!)} |`,
      ),
      '',
      `Targets: ratio ≥ ${TARGET_RATIO} each way (${big.uploadRatio! >= TARGET_RATIO && big.downloadRatio! >= TARGET_RATIO ? 'met' : 'NOT met'}), server peak RSS < ${TARGET_RSS_MB} MB (${peak < TARGET_RSS_MB ? 'met' : 'NOT met'}: ${f(peak)} MB), RSS growth from ${small.sizeMiB} MiB to ${big.sizeMiB} MiB: ${f(growth)} MB.`,
      '',
    ].join('\n');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'vdrive.json'),
      `${JSON.stringify({ date: new Date().toISOString(), idleRssMb, rows, peakRssMb: peak, rssGrowthMb: growth }, null, 2)}\n`,
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
