import { type Bytes, concat, wipe } from './bytes.ts';
import { CryptoError } from './errors.ts';
import {
  type ChunkCipher,
  createChunkCipher,
  DEFAULT_CHUNK_SIZE,
  decodeFileHeader,
  FILE_HEADER_VERSION,
  type FileKey,
  fileHeaderLength,
  newFileHeader,
} from './files.ts';
import { TAG_BYTES } from './primitives.ts';

/**
 * Streaming encryption/decryption of file content as Web Streams `TransformStream`s, so a 1 GiB
 * file never sits in memory: at most one partial chunk plus `concurrency` chunks in flight.
 *
 * Output of encryption (and input of decryption) = header ‖ chunk₀ ‖ … ‖ chunkₙ, every chunk but
 * the last exactly chunkSize+16 bytes and the last 16..chunkSize+16 bytes (an empty file is one
 * empty final chunk). The `last` bit in each nonce makes truncation at a chunk boundary
 * detectable; the index in the nonce makes reordering, duplication or dropping detectable; the
 * per-file key and the header hash in the AAD reject chunks from another file.
 *
 * Decrypted chunks are released as soon as they verify, before the end of the stream is known:
 * a consumer must treat everything it received as invalid if the stream then errors.
 */

export interface FileStreamOptions {
  /** Chunks encrypted/decrypted concurrently (order is preserved). Default 4. */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = 4;

function checkConcurrency(n: number | undefined): number {
  const c = n ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(c) || c < 1 || c > 64) {
    throw new CryptoError('bad_input', 'concurrency must be 1..64');
  }
  return c;
}

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk))
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new CryptoError('bad_input', 'file streams accept only bytes');
}

const noop = () => {};

/**
 * Splits arbitrary input into fixed-size pieces and runs `process(index, last, piece)` with
 * bounded concurrency, emitting results in order. A full piece is held back until at least one
 * more byte arrives, because only then is it known not to be the last.
 *
 * Performance contract with `process`: it must hand `piece` to `subtle.encrypt`/`decrypt`
 * synchronously (before its first `await`). WebCrypto copies its input at call time, so one
 * staging buffer can be refilled while earlier pieces are still being processed, and pieces that
 * lie wholly inside one input chunk are passed as views without copying. The random-chunking
 * property tests with concurrency > 1 would corrupt data if this contract were broken.
 */
class Rechunker {
  private readonly buf: Uint8Array;
  private fill = 0;
  private index = 0;
  private readonly inFlight: Promise<Bytes>[] = [];

  constructor(
    private readonly size: number,
    private readonly concurrency: number,
    private readonly process: (index: number, last: boolean, piece: Uint8Array) => Promise<Bytes>,
  ) {
    this.buf = new Uint8Array(size);
  }

  async push(input: Uint8Array, out: TransformStreamDefaultController<Bytes>): Promise<void> {
    let off = 0;
    while (off < input.length) {
      if (this.fill === this.size) {
        await this.submit(this.buf, false, out);
        this.fill = 0;
      }
      // Strictly more than a piece left in this input: the piece is known not to be the last,
      // so it can go straight from the caller's chunk without a copy.
      if (this.fill === 0 && input.length - off > this.size) {
        await this.submit(input.subarray(off, off + this.size), false, out);
        off += this.size;
        continue;
      }
      const n = Math.min(this.size - this.fill, input.length - off);
      this.buf.set(input.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
    }
  }

  /** The held piece (possibly empty) is the last one. */
  async finish(out: TransformStreamDefaultController<Bytes>): Promise<void> {
    await this.submit(this.buf.subarray(0, this.fill), true, out);
    while (this.inFlight.length > 0) out.enqueue(await this.inFlight.shift()!);
    wipe(this.buf);
    this.fill = 0;
  }

  get pendingBytes(): number {
    return this.fill;
  }

  private async submit(
    piece: Uint8Array,
    last: boolean,
    out: TransformStreamDefaultController<Bytes>,
  ): Promise<void> {
    const p = this.process(this.index++, last, piece);
    // Errors surface when the promise is awaited in order; this only stops promises left behind
    // after the stream has already failed from being reported as unhandled rejections.
    p.catch(noop);
    this.inFlight.push(p);
    if (this.inFlight.length >= this.concurrency) out.enqueue(await this.inFlight.shift()!);
  }
}

/**
 * Plaintext in, header ‖ encrypted chunks out. A fresh random header (salt, nonce prefix) is
 * made per stream, so encrypting the same FK twice never reuses a nonce.
 */
export function createFileEncryptStream(
  fk: FileKey,
  options: FileStreamOptions & { chunkSize?: number } = {},
): TransformStream<Uint8Array, Bytes> {
  const header = newFileHeader(fk.fileId, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const concurrency = checkConcurrency(options.concurrency);
  let chunks: Rechunker;
  return new TransformStream<Uint8Array, Bytes>({
    async start(controller) {
      const cipher = await createChunkCipher(fk, header);
      chunks = new Rechunker(header.chunkSize, concurrency, (i, last, pt) =>
        cipher.encryptChunk(i, last, pt),
      );
      controller.enqueue(cipher.headerBytes.slice());
    },
    async transform(chunk, controller) {
      await chunks.push(asBytes(chunk), controller);
    },
    async flush(controller) {
      await chunks.finish(controller);
    },
  });
}

/** header ‖ encrypted chunks in, plaintext out. Fails with a `CryptoError` on any tampering. */
export function createFileDecryptStream(
  fk: FileKey,
  options: FileStreamOptions = {},
): TransformStream<Uint8Array, Bytes> {
  const concurrency = checkConcurrency(options.concurrency);
  let headerBuf: Uint8Array = new Uint8Array(0);
  let chunks: Rechunker | null = null;
  let cipher: ChunkCipher | null = null;
  // The final chunk is tried as last=1; if that fails but last=0 works, the real final chunk was
  // cut off, which deserves its own error code rather than a generic decryption failure.
  const decrypt = async (index: number, last: boolean, ct: Uint8Array): Promise<Bytes> => {
    if (!last) return cipher!.decryptChunk(index, false, ct);
    try {
      return await cipher!.decryptChunk(index, true, ct);
    } catch (err) {
      const asMiddle = ct.length === cipher!.header.chunkSize + TAG_BYTES;
      if (
        asMiddle &&
        (await cipher!.decryptChunk(index, false, ct).then(wipe, () => false)) !== false
      ) {
        throw new CryptoError('truncated', 'file stream ends before its final chunk');
      }
      throw err;
    }
  };

  return new TransformStream<Uint8Array, Bytes>({
    async transform(chunk, controller) {
      let input = asBytes(chunk);
      if (!chunks) {
        // Only the header is ever accumulated; a large first chunk is parsed in place.
        const view = headerBuf.length === 0 ? input : concat(headerBuf, input);
        if (view.length > 0 && view[0] !== FILE_HEADER_VERSION) {
          throw new CryptoError('unknown_version', `file header has unknown version ${view[0]}`);
        }
        const need = fileHeaderLength(view);
        if (need === null || view.length < need) {
          headerBuf = view === input ? input.slice() : view;
          return;
        }
        const { header } = decodeFileHeader(view.subarray(0, need));
        cipher = await createChunkCipher(fk, header);
        chunks = new Rechunker(header.chunkSize + TAG_BYTES, concurrency, decrypt);
        input = view.subarray(need);
        headerBuf = new Uint8Array(0);
      }
      await chunks.push(input, controller);
    },
    async flush(controller) {
      if (!chunks) {
        throw new CryptoError('truncated', 'file stream is empty or ends inside its header');
      }
      if (chunks.pendingBytes < TAG_BYTES) {
        throw new CryptoError('truncated', 'file stream ends inside a chunk');
      }
      await chunks.finish(controller);
    },
  });
}

async function collect(stream: ReadableStream<Bytes>): Promise<Bytes> {
  // A reader loop rather than `for await`: Safari's ReadableStream is not async-iterable.
  const reader = stream.getReader();
  const parts: Bytes[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return concat(...parts);
}

function once(data: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(data);
      c.close();
    },
  });
}

/** In-memory convenience over the streams, for small files and tests. */
export function encryptFileBytes(
  fk: FileKey,
  plaintext: Uint8Array,
  options: FileStreamOptions & { chunkSize?: number } = {},
): Promise<Bytes> {
  return collect(once(plaintext).pipeThrough(createFileEncryptStream(fk, options)));
}

export function decryptFileBytes(
  fk: FileKey,
  ciphertext: Uint8Array,
  options: FileStreamOptions = {},
): Promise<Bytes> {
  return collect(once(ciphertext).pipeThrough(createFileDecryptStream(fk, options)));
}
