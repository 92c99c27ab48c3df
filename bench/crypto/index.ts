/**
 * Crypto benchmark (not a test): `npx tsx bench/crypto/index.ts [MiB]`.
 *
 * File-stream encryption/decryption throughput on a generated file (default 256 MiB) streamed
 * through the TransformStreams, against raw AES-256-GCM `subtle.encrypt`/`decrypt` over the same
 * 1 MiB buffers in the same run (sequential: one call per buffer, awaited in turn — the
 * baseline the ratio is computed against; and with the same concurrency as the stream, for
 * reference). Plus Argon2id at the production default cost, and the membership-log / history
 * page checks (trust.ts, which writes bench/results/crypto-trust.json and .md itself). Prints a
 * markdown table and writes bench/results/crypto.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import {
  type Bytes,
  createFileDecryptStream,
  createFileEncryptStream,
  DEFAULT_KDF_COST,
  derivePassphraseKeys,
  generateFileKey,
  newKdfParams,
  randomBytes,
} from '../../src/crypto/index.ts';
import { benchTrust } from './trust.ts';

const MiB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 256);
const CHUNK = MiB;
const CONCURRENCY = 4;
const RUNS = 3;
const POOL = 16;

// A small pool of random buffers cycled to make the "file": generating 256 MiB of randomness
// per run would dominate the measurement, and AES-GCM speed does not depend on the data.
const pool = Array.from({ length: POOL }, () => randomBytes(CHUNK));

function source(): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (i === totalMiB) c.close();
        else c.enqueue(pool[i++ % POOL]!);
      },
    },
    { highWaterMark: 2 },
  );
}

function replay(parts: Bytes[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (i === parts.length) c.close();
        else c.enqueue(parts[i++]!);
      },
    },
    { highWaterMark: 2 },
  );
}

function sink(keep: Bytes[] | null): { stream: WritableStream<Bytes>; bytes: () => number } {
  let n = 0;
  const stream = new WritableStream<Bytes>({
    write(chunk) {
      n += chunk.length;
      keep?.push(chunk);
    },
  });
  return { stream, bytes: () => n };
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main() {
  // First, on a fresh heap: the trust figures are milliseconds, and the 1 GiB pipeline below
  // leaves hundreds of MiB for the collector.
  const trust = await benchTrust();
  const plainBytes = totalMiB * MiB;
  const fk = await generateFileKey('bench-file');
  const rawKey = await crypto.subtle.importKey('raw', randomBytes(32), 'AES-GCM', false, [
    'encrypt',
    'decrypt',
  ]);
  const iv = (i: number) => {
    const b = new Uint8Array(12);
    new DataView(b.buffer).setUint32(8, i);
    return b;
  };

  let ciphertext: Bytes[] = [];
  const encryptStream = async () => {
    ciphertext = [];
    const s = sink(ciphertext);
    await source()
      .pipeThrough(createFileEncryptStream(fk, { concurrency: CONCURRENCY }))
      .pipeTo(s.stream);
  };
  const decryptStream = async () => {
    const s = sink(null);
    await replay(ciphertext)
      .pipeThrough(createFileDecryptStream(fk, { concurrency: CONCURRENCY }))
      .pipeTo(s.stream);
    if (s.bytes() !== plainBytes)
      throw new Error(`decrypted ${s.bytes()} bytes, expected ${plainBytes}`);
  };

  let rawCts: ArrayBuffer[] = [];
  const rawEncryptSeq = async () => {
    rawCts = [];
    for (let i = 0; i < totalMiB; i++) {
      rawCts.push(
        await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv(i) }, rawKey, pool[i % POOL]!),
      );
    }
  };
  const rawDecryptSeq = async () => {
    for (let i = 0; i < totalMiB; i++) {
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv(i) }, rawKey, rawCts[i]!);
    }
  };
  const rawParallel = (op: 'encrypt' | 'decrypt') => async () => {
    for (let i = 0; i < totalMiB; i += CONCURRENCY) {
      const batch: Promise<ArrayBuffer>[] = [];
      for (let j = i; j < Math.min(totalMiB, i + CONCURRENCY); j++) {
        batch.push(
          op === 'encrypt'
            ? crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv(j) }, rawKey, pool[j % POOL]!)
            : crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv(j) }, rawKey, rawCts[j]!),
        );
      }
      await Promise.all(batch);
    }
  };

  // Warm-up (JIT, thread pool, allocator), then RUNS measured rounds, interleaved so that
  // machine noise hits every variant alike.
  await encryptStream();
  await decryptStream();
  await rawEncryptSeq();
  await rawDecryptSeq();
  const keys = ['streamEnc', 'streamDec', 'rawEnc', 'rawDec', 'rawEncPar', 'rawDecPar'] as const;
  type Key = (typeof keys)[number];
  const t = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
  for (let r = 0; r < RUNS; r++) {
    t.rawEnc.push(await timed(rawEncryptSeq));
    t.rawDec.push(await timed(rawDecryptSeq));
    t.rawEncPar.push(await timed(rawParallel('encrypt')));
    t.rawDecPar.push(await timed(rawParallel('decrypt')));
    t.streamEnc.push(await timed(encryptStream));
    t.streamDec.push(await timed(decryptStream));
  }
  const speed = Object.fromEntries(
    keys.map((k) => [k, Math.round(mbps(plainBytes, median(t[k])))]),
  ) as Record<Key, number>;

  // 1 GiB encrypted and decrypted in one pipeline, never stored: peak RSS shows what the
  // streams hold (about concurrency × chunk per stage), not the file.
  ciphertext = [];
  rawCts = [];
  global.gc?.();
  await new Promise((r) => setTimeout(r, 50));
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 5);
  const gib = 1024;
  let produced = 0;
  const big = new ReadableStream<Uint8Array>({
    pull(c) {
      if (produced === gib) c.close();
      else c.enqueue(pool[produced++ % POOL]!);
    },
  });
  const bigSink = sink(null);
  const pipelineMs = await timed(() =>
    big
      .pipeThrough(createFileEncryptStream(fk, { concurrency: CONCURRENCY }))
      .pipeThrough(createFileDecryptStream(fk, { concurrency: CONCURRENCY }))
      .pipeTo(bigSink.stream),
  );
  clearInterval(sampler);
  if (bigSink.bytes() !== gib * MiB) throw new Error('1 GiB pipeline lost data');
  const pipeline = {
    fileMiB: gib,
    ms: Math.round(pipelineMs),
    rssBeforeMiB: Math.round(rssBefore / MiB),
    rssPeakMiB: Math.round(rssPeak / MiB),
    rssGrowthMiB: Math.round((rssPeak - rssBefore) / MiB),
  };

  const argonMs: number[] = [];
  const params = newKdfParams();
  for (let r = 0; r < RUNS; r++) {
    argonMs.push(
      await timed(async () => void (await derivePassphraseKeys('benchmark passphrase', params))),
    );
  }

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    fileMiB: totalMiB,
    chunkBytes: CHUNK,
    concurrency: CONCURRENCY,
    runs: RUNS,
    mbPerSecond: {
      streamEncrypt: speed.streamEnc,
      streamDecrypt: speed.streamDec,
      rawEncryptSequential: speed.rawEnc,
      rawDecryptSequential: speed.rawDec,
      rawEncryptConcurrent: speed.rawEncPar,
      rawDecryptConcurrent: speed.rawDecPar,
    },
    ratioVsRawSequential: {
      encrypt: +(speed.streamEnc / speed.rawEnc).toFixed(2),
      decrypt: +(speed.streamDec / speed.rawDec).toFixed(2),
    },
    ratioVsRawConcurrent: {
      encrypt: +(speed.streamEnc / speed.rawEncPar).toFixed(2),
      decrypt: +(speed.streamDec / speed.rawDecPar).toFixed(2),
    },
    argon2idDefault: { ...DEFAULT_KDF_COST, medianMs: Math.round(median(argonMs)) },
    streamedPipeline1GiB: pipeline,
    trust,
  };

  const rows = [
    [
      'file stream encrypt',
      speed.streamEnc,
      result.ratioVsRawSequential.encrypt,
      result.ratioVsRawConcurrent.encrypt,
    ],
    [
      'file stream decrypt',
      speed.streamDec,
      result.ratioVsRawSequential.decrypt,
      result.ratioVsRawConcurrent.decrypt,
    ],
    ['raw AES-256-GCM encrypt, sequential (baseline)', speed.rawEnc, 1, ''],
    ['raw AES-256-GCM decrypt, sequential (baseline)', speed.rawDec, 1, ''],
    [`raw AES-256-GCM encrypt, ${CONCURRENCY} in flight`, speed.rawEncPar, '', 1],
    [`raw AES-256-GCM decrypt, ${CONCURRENCY} in flight`, speed.rawDecPar, '', 1],
  ];
  console.log(
    `\n${totalMiB} MiB, 1 MiB chunks, median of ${RUNS} runs, ${result.node}, ${result.cpus}× ${result.cpu}\n`,
  );
  console.log('| operation | MB/s | ratio vs raw sequential | ratio vs raw concurrent |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    `\n| Argon2id m=${DEFAULT_KDF_COST.memoryKiB} KiB, t=${DEFAULT_KDF_COST.iterations}, p=${DEFAULT_KDF_COST.parallelism} | ${result.argon2idDefault.medianMs} ms |\n|---|---:|`,
  );

  console.log(
    `\n1 GiB encrypt → decrypt pipeline: ${pipeline.ms} ms, RSS ${pipeline.rssBeforeMiB} → peak ${pipeline.rssPeakMiB} MiB (+${pipeline.rssGrowthMiB} MiB)`,
  );

  const out = new URL('../results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL('crypto.json', out), `${JSON.stringify(result, null, 2)}\n`);
  console.log('\nwrote bench/results/crypto.json');
}

await main();
