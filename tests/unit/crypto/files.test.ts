import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Bytes,
  concat,
  createChunkCipher,
  createFileDecryptStream,
  createFileEncryptStream,
  decodeFileHeader,
  decryptFileBytes,
  encodeFileHeader,
  encryptedFileSize,
  encryptFileBytes,
  type FileKey,
  generateFileKey,
  newFileHeader,
  openFileMeta,
  openPreview,
  randomBytes,
  sealFileMeta,
  sealPreview,
  unwrapFileKey,
  wrapFileKey,
} from '../../../src/crypto/index.ts';
import { expectCryptoError, failsWithCryptoError, flipBit, makeUser } from './helpers.ts';

const FILE = '018f3c1a-7b2c-7d3e-8f40-123456789abc';
const CS = 64; // smallest chunk size: many chunks from small inputs

/** A stream that yields `data` cut at the given offsets. */
function streamOf(data: Uint8Array, cuts: number[] = []): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    parts.push(data.slice(prev, p));
    prev = p;
  }
  return new ReadableStream({
    pull(c) {
      const next = parts.shift();
      if (next === undefined) c.close();
      else c.enqueue(next);
    },
  });
}

async function collect(s: ReadableStream<Bytes>): Promise<Bytes> {
  const parts: Bytes[] = [];
  for await (const p of s as unknown as AsyncIterable<Bytes>) parts.push(p);
  return concat(...parts);
}

/** header, then each encrypted chunk, cut at the documented boundaries. */
function splitCiphertext(ct: Uint8Array, chunkSize: number): { header: Bytes; chunks: Bytes[] } {
  const { length } = decodeFileHeader(ct);
  const header = ct.slice(0, length) as Bytes;
  const chunks: Bytes[] = [];
  for (let off = length; off < ct.length; off += chunkSize + 16)
    chunks.push(ct.slice(off, off + chunkSize + 16) as Bytes);
  return { header, chunks };
}

describe('file header', () => {
  it('encodes and decodes the documented layout', () => {
    const h = newFileHeader(FILE, 4096);
    const bytes = encodeFileHeader(h);
    expect(bytes.length).toBe(1 + 2 + 36 + 4 + 32 + 7);
    expect(bytes[0]).toBe(1);
    expect(decodeFileHeader(bytes)).toEqual({ header: h, length: bytes.length });
  });

  it('rejects bad headers with typed errors', async () => {
    const bytes = encodeFileHeader(newFileHeader(FILE, 4096));
    await expectCryptoError(() => decodeFileHeader(bytes.subarray(0, 20)), 'truncated');
    await expectCryptoError(
      () => decodeFileHeader(Uint8Array.of(2, ...bytes.subarray(1))),
      'unknown_version',
    );
    await expectCryptoError(() => newFileHeader(FILE, 10), 'bad_params');
    await expectCryptoError(() => newFileHeader(FILE, 32 * 1024 * 1024), 'bad_params');
    const upper = bytes.slice();
    upper.set(new TextEncoder().encode(FILE.toUpperCase()), 3);
    await expectCryptoError(() => decodeFileHeader(upper), 'bad_encoding');
  });
});

describe('file streams', () => {
  it('round-trips random sizes and random input chunking, incl. empty and exact multiples (property)', async () => {
    const fk = await generateFileKey(FILE);
    const size = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1, max: 5 }).map((k) => k * CS), // exact multiples
      fc.integer({ min: 0, max: 1200 }),
    );
    await fc.assert(
      fc.asyncProperty(
        size,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 1, max: 5 }),
        async (n, cutsIn, cutsOut, concurrency) => {
          const data = randomBytes(n);
          const ct = await collect(
            streamOf(data, cutsIn).pipeThrough(
              createFileEncryptStream(fk, { chunkSize: CS, concurrency }),
            ),
          );
          expect(ct.length).toBe(encryptedFileSize(FILE, n, CS));
          const pt = await collect(
            streamOf(ct, cutsOut).pipeThrough(createFileDecryptStream(fk, { concurrency })),
          );
          expect(pt).toEqual(data);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('accepts input one byte at a time, header included', async () => {
    const fk = await generateFileKey(FILE);
    const data = randomBytes(3 * CS + 7);
    const ct = await encryptFileBytes(fk, data, { chunkSize: CS });
    const everyByte = Array.from({ length: ct.length }, (_, i) => i);
    expect(await collect(streamOf(ct, everyByte).pipeThrough(createFileDecryptStream(fk)))).toEqual(
      data,
    );
  });

  it('handles the default 1 MiB chunk size across several chunks', async () => {
    const fk = await generateFileKey(FILE);
    const data = randomBytes(2 * 1024 * 1024 + 5);
    const ct = await encryptFileBytes(fk, data);
    expect(ct.length).toBe(encryptedFileSize(FILE, data.length));
    // Buffer.equals: vitest's deep equality is very slow on megabyte arrays.
    expect(Buffer.from(await decryptFileBytes(fk, ct)).equals(data)).toBe(true);
  });

  it('encrypts an empty file as one empty final chunk', async () => {
    const fk = await generateFileKey(FILE);
    const ct = await encryptFileBytes(fk, new Uint8Array(0), { chunkSize: CS });
    const { chunks } = splitCiphertext(ct, CS);
    expect(chunks.map((c) => c.length)).toEqual([16]);
    expect(await decryptFileBytes(fk, ct)).toEqual(new Uint8Array(0));
  });

  it('never reuses a nonce: two encryptions of the same file differ', async () => {
    const fk = await generateFileKey(FILE);
    const data = randomBytes(100);
    const a = await encryptFileBytes(fk, data, { chunkSize: CS });
    const b = await encryptFileBytes(fk, data, { chunkSize: CS });
    expect(a).not.toEqual(b);
  });

  describe('tampering', () => {
    async function fixture(size = 5 * CS + 10) {
      const fk = await generateFileKey(FILE);
      const ct = await encryptFileBytes(fk, randomBytes(size), { chunkSize: CS });
      return { fk, ct, ...splitCiphertext(ct, CS) };
    }
    const rejoin = (header: Uint8Array, chunks: Uint8Array[]) => concat(header, ...chunks);

    it('fails on one flipped bit anywhere (property)', async () => {
      const { fk, ct } = await fixture();
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: ct.length * 8 - 1 }), async (bit) =>
          failsWithCryptoError(() => decryptFileBytes(fk, flipBit(ct, bit))),
        ),
        { numRuns: 200 },
      );
    });

    it('fails when the final chunk is removed (truncated)', async () => {
      const { fk, header, chunks } = await fixture();
      await expectCryptoError(
        decryptFileBytes(fk, rejoin(header, chunks.slice(0, -1))),
        'truncated',
      );
      // Also when the file was an exact multiple of the chunk size (final chunk full-size).
      const exact = await fixture(4 * CS);
      await expectCryptoError(
        decryptFileBytes(exact.fk, rejoin(exact.header, exact.chunks.slice(0, -1))),
        'truncated',
      );
    });

    it('fails when bytes are cut inside a chunk', async () => {
      const { fk, ct } = await fixture();
      await expectCryptoError(decryptFileBytes(fk, ct.subarray(0, ct.length - 30)));
    });

    it('fails on a reordered, duplicated or dropped chunk', async () => {
      const { fk, header, chunks } = await fixture();
      const [c0, c1, c2, c3, c4, c5] = chunks as [Bytes, Bytes, Bytes, Bytes, Bytes, Bytes];
      await expectCryptoError(
        decryptFileBytes(fk, rejoin(header, [c1, c0, c2, c3, c4, c5])),
        'decrypt_failed',
      );
      await expectCryptoError(
        decryptFileBytes(fk, rejoin(header, [c0, c1, c1, c2, c3, c4, c5])),
        'decrypt_failed',
      );
      await expectCryptoError(
        decryptFileBytes(fk, rejoin(header, [c0, c2, c3, c4, c5])),
        'decrypt_failed',
      );
      await expectCryptoError(
        decryptFileBytes(fk, rejoin(header, [c0, c1, c2, c3, c4, c5, c5])),
        'decrypt_failed',
      );
    });

    it('fails on a chunk from another file, or another encryption of the same file', async () => {
      const a = await fixture();
      const b = await fixture();
      const mixed = [...a.chunks];
      mixed[2] = b.chunks[2]!;
      await expectCryptoError(decryptFileBytes(a.fk, rejoin(a.header, mixed)), 'decrypt_failed');
      // Same FK, new header (fresh salt and nonce prefix): chunks do not mix either.
      const again = await encryptFileBytes(a.fk, randomBytes(5 * CS + 10), { chunkSize: CS });
      const other = splitCiphertext(again, CS);
      const mixed2 = [...a.chunks];
      mixed2[1] = other.chunks[1]!;
      await expectCryptoError(decryptFileBytes(a.fk, rejoin(a.header, mixed2)), 'decrypt_failed');
      // A whole stream made for another file id.
      const foreignFk = await generateFileKey('another-file');
      const foreign = await encryptFileBytes(foreignFk, randomBytes(10), { chunkSize: CS });
      await expectCryptoError(decryptFileBytes(a.fk, foreign), 'decrypt_failed');
    });

    it('fails on an empty stream, a header-only stream and garbage', async () => {
      const { fk, header } = await fixture();
      await expectCryptoError(decryptFileBytes(fk, new Uint8Array(0)), 'truncated');
      await expectCryptoError(decryptFileBytes(fk, header), 'truncated');
      await expectCryptoError(decryptFileBytes(fk, header.subarray(0, 10)), 'truncated');
      await expectCryptoError(decryptFileBytes(fk, concat(header, new Uint8Array(5))), 'truncated');
      await expectCryptoError(decryptFileBytes(fk, Uint8Array.of(9, 9, 9)), 'unknown_version');
      await expectCryptoError(decryptFileBytes(fk, randomBytes(500).fill(1, 0, 1)));
    });

    it('fails with the wrong file key', async () => {
      const { ct } = await fixture();
      await expectCryptoError(decryptFileBytes(await generateFileKey(FILE), ct), 'decrypt_failed');
    });

    it('rejects non-byte input chunks', async () => {
      const fk = await generateFileKey(FILE);
      const bad = new ReadableStream<unknown>({
        start(c) {
          c.enqueue('text');
          c.close();
        },
      });
      await expectCryptoError(
        collect((bad as ReadableStream<Uint8Array>).pipeThrough(createFileEncryptStream(fk))),
        'bad_input',
      );
    });
  });

  it('decrypts single chunks for random access', async () => {
    const fk = await generateFileKey(FILE);
    const data = randomBytes(3 * CS + 1);
    const ct = await encryptFileBytes(fk, data, { chunkSize: CS });
    const { header, chunks } = splitCiphertext(ct, CS);
    const cipher = await createChunkCipher(fk, decodeFileHeader(header).header);
    expect(await cipher.decryptChunk(2, false, chunks[2]!)).toEqual(data.subarray(2 * CS, 3 * CS));
    expect(await cipher.decryptChunk(3, true, chunks[3]!)).toEqual(data.subarray(3 * CS));
    await expectCryptoError(cipher.decryptChunk(3, false, chunks[3]!), 'decrypt_failed');
    await expectCryptoError(cipher.decryptChunk(1, false, chunks[2]!), 'decrypt_failed');
  });
});

describe('file keys, metadata and previews', () => {
  it('wraps FK under MK bound to the file id', async () => {
    const alice = await makeUser('alice');
    const fk = await generateFileKey(FILE);
    const wrapped = await wrapFileKey(alice.masterKey, fk);
    expect(wrapped.length).toBe(61);
    const back = await unwrapFileKey(alice.masterKey, FILE, wrapped);
    expect(back.exportable).toBe(false);
    expect(back.base.extractable).toBe(false);
    const ct = await encryptFileBytes(fk, Uint8Array.of(1, 2, 3), { chunkSize: CS });
    expect(await decryptFileBytes(back, ct)).toEqual(Uint8Array.of(1, 2, 3));
    await expectCryptoError(
      unwrapFileKey(alice.masterKey, 'other-file', wrapped),
      'decrypt_failed',
    );
    await expectCryptoError(
      unwrapFileKey((await makeUser('bob')).masterKey, FILE, wrapped),
      'decrypt_failed',
    );
    await expectCryptoError(wrapFileKey(alice.masterKey, back), 'not_extractable');
    await expectCryptoError(
      unwrapFileKey(alice.masterKey, FILE, wrapped.subarray(0, 30)),
      'truncated',
    );
  });

  it('seals and opens metadata and previews, bound to the file', async () => {
    const fk: FileKey = await generateFileKey(FILE);
    const meta = {
      name: 'plan.pdf',
      type: 'application/pdf',
      size: 12345,
      createdAt: 1_700_000_000_000,
      modifiedAt: null,
    };
    const sealedMeta = await sealFileMeta(fk, meta);
    expect(await openFileMeta(fk, sealedMeta)).toEqual(meta);
    const preview = randomBytes(200);
    const sealedPreview = await sealPreview(fk, preview);
    expect(await openPreview(fk, sealedPreview)).toEqual(preview);

    const otherFile = await generateFileKey('other');
    await expectCryptoError(openFileMeta(otherFile, sealedMeta), 'decrypt_failed');
    // The preview and meta keys are different keys: one blob does not open as the other.
    await expectCryptoError(openPreview(fk, sealedMeta), 'decrypt_failed');
    await expectCryptoError(openFileMeta(fk, flipBit(sealedMeta, 120)), 'decrypt_failed');
    await expectCryptoError(openFileMeta(fk, sealedMeta.subarray(0, 10)), 'truncated');
    await expectCryptoError(sealFileMeta(fk, { ...meta, size: -1 }), 'bad_encoding');
  });
});
