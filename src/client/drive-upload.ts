/**
 * The upload half of the drive SDK: reads a `Blob` or a web stream in chunk-sized pieces,
 * encrypts each with the file's chunk cipher and PUTs it, a few at a time. Browser-safe.
 */
import { base64Decode } from '../crypto/bytes.ts';
import { createChunkCipher, decodeFileHeader, type FileKey } from '../crypto/files.ts';
import type { FileView } from '../vdrive/types.ts';
import { type Http, VutlerClientError } from './http.ts';

export interface UploadOptions {
  name: string;
  type?: string;
  /** Plaintext size: required for a `ReadableStream` (a `Blob` knows its own). */
  size?: number;
  modifiedAt?: number | null;
  chunkSize?: number;
  /** Preview bytes the caller made (a small thumbnail, or `textPreview(…)`); stored encrypted. */
  preview?: Uint8Array;
  /** Plaintext bytes acknowledged by the server so far, and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Chunk uploads in flight at once. Default 3. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called once the server holds the file record, before any chunk: keep the id to resume later. */
  onCreated?: (fileId: string) => void;
}

export type UploadSource = Blob | ReadableStream<Uint8Array>;

/** An upload stopped after `create`; pass `fileId` and the same bytes to `drive.resume`. */
export class UploadInterruptedError extends VutlerClientError {
  constructor(
    readonly fileId: string,
    override readonly cause: unknown,
  ) {
    super('upload-interrupted', `The upload of ${fileId} was interrupted; resume it.`);
  }
}

/** The first `lines` lines of a text file (at most `maxBytes`), as a preview. */
export function textPreview(text: string, lines = 10, maxBytes = 2048): Uint8Array {
  const head = text.split('\n').slice(0, lines).join('\n');
  const bytes = new TextEncoder().encode(head);
  return bytes.length <= maxBytes ? bytes : bytes.subarray(0, maxBytes);
}

/**
 * A preview for a file, made on this device: the first lines of a text file, or a WebP (else
 * JPEG) thumbnail of an image at most `maxSide` pixels wide or high. Images need
 * `createImageBitmap` and `OffscreenCanvas` (browsers, workers); elsewhere `no-canvas` is thrown
 * and the caller uploads without a preview. Other types have none (null).
 */
export async function makePreview(file: Blob, maxSide = 256): Promise<Uint8Array | null> {
  if (file.type.startsWith('text/')) return textPreview(await file.slice(0, 64 * 1024).text());
  if (!file.type.startsWith('image/')) return null;
  const g = globalThis as {
    createImageBitmap?: (b: Blob) => Promise<{ width: number; height: number; close(): void }>;
    OffscreenCanvas?: new (
      w: number,
      h: number,
    ) => {
      getContext(
        kind: '2d',
      ): { drawImage(img: unknown, x: number, y: number, w: number, h: number): void } | null;
      convertToBlob(o: { type: string; quality?: number }): Promise<Blob>;
    };
  };
  if (!g.createImageBitmap || !g.OffscreenCanvas) {
    throw new VutlerClientError(
      'no-canvas',
      'Image previews need createImageBitmap and OffscreenCanvas.',
    );
  }
  const bitmap = await g.createImageBitmap(file);
  try {
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * scale));
    const h = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new g.OffscreenCanvas(w, h);
    canvas.getContext('2d')?.drawImage(bitmap, 0, 0, w, h);
    let out = await canvas.convertToBlob({ type: 'image/webp', quality: 0.7 });
    // Browsers without a WebP encoder fall back to PNG silently; JPEG is smaller for photos.
    if (out.type !== 'image/webp')
      out = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.7 });
    return new Uint8Array(await out.arrayBuffer());
  } finally {
    bitmap.close();
  }
}

/** Reads a source as consecutive pieces of exactly `size` bytes (the last may be shorter or empty). */
function pieces(source: UploadSource, size: number) {
  if (source instanceof Blob) {
    let offset = 0;
    return {
      async next(): Promise<Uint8Array> {
        const end = Math.min(source.size, offset + size);
        const piece = new Uint8Array(await source.slice(offset, end).arrayBuffer());
        offset = end;
        return piece;
      },
      skip(): void {
        offset = Math.min(source.size, offset + size);
      },
      cancel: async () => undefined,
    };
  }
  const reader = source.getReader();
  let pending: Uint8Array = new Uint8Array(0);
  let done = false;
  const next = async (): Promise<Uint8Array> => {
    if (pending.length === 0 && !done) {
      const r = await reader.read();
      if (r.done) done = true;
      else pending = r.value;
    }
    // A source that hands out chunk-sized pieces (most do, for 1 MiB chunks) is passed through
    // without a copy: one 1 MiB allocation less per chunk, and less garbage to collect.
    if (pending.length >= size) {
      const out = pending.subarray(0, size);
      pending = pending.subarray(size);
      return out;
    }
    const out = new Uint8Array(size);
    let fill = 0;
    while (fill < size) {
      if (pending.length === 0) {
        if (done) break;
        const r = await reader.read();
        if (r.done) {
          done = true;
          break;
        }
        pending = r.value;
        continue;
      }
      const n = Math.min(size - fill, pending.length);
      out.set(pending.subarray(0, n), fill);
      pending = pending.subarray(n);
      fill += n;
    }
    return fill === size ? out : out.subarray(0, fill);
  };
  return {
    next,
    skip: () => {
      void 0;
    },
    cancel: (reason?: unknown) => reader.cancel(reason),
  };
}

export async function sendChunks(
  http: Http,
  view: FileView,
  fk: FileKey,
  source: UploadSource,
  size: number,
  present: Set<number>,
  opts: Omit<UploadOptions, 'name'>,
): Promise<void> {
  const { header } = decodeFileHeader(base64Decode(view.header));
  const cipher = await createChunkCipher(fk, header);
  const count = view.chunkCount;
  const limit = Math.max(1, Math.min(16, opts.concurrency ?? 3));
  const reader = pieces(source, view.chunkSize);
  const pieceBytes = (i: number) => (i === count - 1 ? size - i * view.chunkSize : view.chunkSize);
  let done = 0;
  for (const i of present) if (i < count) done += pieceBytes(i);
  opts.onProgress?.(done, size);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    for (let i = 0; i < count && failure === undefined; i++) {
      if (present.has(i)) {
        if (source instanceof Blob) reader.skip();
        else await reader.next();
        continue;
      }
      const plain = await reader.next();
      if (plain.length !== pieceBytes(i)) {
        throw new VutlerClientError('size-mismatch', 'The source ended before its stated size.');
      }
      const sealed = await cipher.encryptChunk(i, i === count - 1, plain);
      const p: Promise<void> = http
        .raw(`/api/files/${encodeURIComponent(view.id)}/chunks/${i}`, {
          method: 'PUT',
          body: sealed,
          signal: opts.signal,
        })
        .then(async (res) => {
          await res.body?.cancel();
          done += plain.length;
          opts.onProgress?.(done, size);
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= limit) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    await http.request(`/api/files/${encodeURIComponent(view.id)}/complete`, { method: 'POST' });
  } catch (err) {
    await Promise.allSettled(inFlight);
    await reader.cancel(err).catch(() => undefined);
    if (err instanceof VutlerClientError && err.code === 'size-mismatch') throw err;
    throw new UploadInterruptedError(view.id, err);
  }
}

/** Reads a whole stream (small files and tests). */
export async function readAllBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
