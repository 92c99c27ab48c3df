import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AtRestKeyring } from '../atrest.ts';
import { base64Encode } from '../crypto/bytes.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import { BadRequestError, ConflictError, NotFoundError, PayloadTooLargeError } from '../errors.ts';
import {
  BadChunkSizeError,
  ChunkOutOfRangeError,
  chunksMissing,
  QuotaExceededError,
  uploadComplete,
} from './errors.ts';
import { checkLayout, chunkBlobName, expectedChunkBytes, type FileLayout } from './layout.ts';
import { type BlobStore, type ByteSource, iterateBytes } from './storage/types.ts';
import type { FileView, UploadStatus } from './types.ts';
import { type FileRow, VdriveRepository } from './vdrive.repository.ts';

const OBJECT_PURPOSE = 'storage-object';

export function layoutOf(f: FileRow): FileLayout {
  return {
    chunkSize: f.chunk_size,
    chunkCount: f.chunk_count,
    headerBytes: f.file_header.length,
    storedSize: Number(f.stored_size_bytes),
  };
}

export function fileView(f: FileRow): FileView {
  return {
    id: f.id,
    status: f.status === 'ready' ? 'ready' : 'uploading',
    encryptedMetadata: f.encrypted_metadata?.ct ?? '',
    fileKeyEncrypted: base64Encode(f.file_key_encrypted),
    header: base64Encode(f.file_header),
    chunkSize: f.chunk_size,
    chunkCount: f.chunk_count,
    storedSize: Number(f.stored_size_bytes),
    hasPreview: f.has_preview,
    createdAt: f.created_at.toISOString(),
    completedAt: f.completed_at?.toISOString() ?? null,
  };
}

async function* noBytes(): AsyncGenerator<Uint8Array> {}

/** Counts a streamed body: over `max` is a 413 at once, anything but `expected` a 400 at the end. */
async function* limitBody(
  body: ByteSource,
  expected: number,
  max: number,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const piece of iterateBytes(body)) {
    seen += piece.byteLength;
    if (seen > max) throw new PayloadTooLargeError(max);
    yield piece;
  }
  if (seen !== expected) throw new BadChunkSizeError(expected, seen);
}

export interface CreateFileInput {
  id: string;
  encryptedMetadata: string;
  fileKeyEncrypted: Uint8Array;
  header: Uint8Array;
  chunkSize: number;
  chunkCount: number;
  ciphertextSize: number;
  preview: Uint8Array | null;
}

/**
 * A user's files: resumable chunked uploads, downloads, listing, deletion, quota. The server
 * stores envelopes and ciphertext and checks their layout; it cannot read either. Every method
 * takes the caller's id and answers 404 for a file that is not theirs, as for one that does not
 * exist.
 */
export class VdriveService {
  private readonly repo: VdriveRepository;

  constructor(
    private readonly pool: Pool,
    private readonly store: BlobStore,
    private readonly keyring: AtRestKeyring,
    private readonly opts: { quotaBytes: number; reapAfterMs: number },
    private readonly logger: Logger,
  ) {
    this.repo = new VdriveRepository(pool);
  }

  private objectId(f: { id: string; synology_path_encrypted: string }): string {
    return this.keyring.open(OBJECT_PURPOSE, f.id, f.synology_path_encrypted);
  }

  private async ownFile(fileId: string, userId: string): Promise<FileRow> {
    const f = await this.repo.fileOfOwner(fileId, userId);
    if (!f) throw new NotFoundError();
    return f;
  }

  async create(userId: string, input: CreateFileInput): Promise<FileView> {
    const layout = checkLayout({
      fileId: input.id,
      header: input.header,
      chunkSize: input.chunkSize,
      chunkCount: input.chunkCount,
      storedSize: input.ciphertextSize,
    });
    // A random object id, sealed to this row: a dump maps no row to a storage object.
    const sealedObject = this.keyring.seal(
      OBJECT_PURPOSE,
      input.id.toLowerCase(),
      randomBytes(16).toString('hex'),
    );
    const row = await withTransaction(this.pool, async (tx) => {
      const repo = new VdriveRepository(tx);
      await repo.lockOwner(userId);
      const used = await repo.usedBytes(userId);
      if (used + layout.storedSize > this.opts.quotaBytes) {
        throw new QuotaExceededError(this.opts.quotaBytes, used);
      }
      return repo.insertFile({
        id: input.id,
        ownerId: userId,
        encryptedMetadata: input.encryptedMetadata,
        fileKeyEncrypted: input.fileKeyEncrypted,
        header: input.header,
        chunkSize: layout.chunkSize,
        chunkCount: layout.chunkCount,
        storedSize: layout.storedSize,
        sealedObject,
        preview: input.preview,
      });
    });
    if (!row) throw new ConflictError('file-exists', 'A file with this id already exists.');
    return fileView(row);
  }

  /**
   * Streams one chunk to storage. The size is checked while streaming (never buffered): more than
   * chunk size + tag is a 413, a different exact size a 400; either way nothing is recorded.
   */
  async putChunk(
    userId: string,
    fileId: string,
    idx: number,
    body: ByteSource | null,
    contentLength: number | undefined,
  ): Promise<{ index: number; size: number }> {
    const f = await this.ownFile(fileId, userId);
    if (f.status !== 'uploading') throw uploadComplete();
    const layout = layoutOf(f);
    if (!Number.isInteger(idx) || idx < 0 || idx >= layout.chunkCount) {
      throw new ChunkOutOfRangeError(layout.chunkCount);
    }
    const expected = expectedChunkBytes(layout, idx);
    const max = layout.chunkSize + 16;
    if (contentLength !== undefined) {
      if (contentLength > max) throw new PayloadTooLargeError(max);
      if (contentLength !== expected) throw new BadChunkSizeError(expected, contentLength);
    }
    const name = chunkBlobName(this.objectId(f), idx);
    await this.store.put(name, limitBody(body ?? noBytes(), expected, max));
    // The blob is fsynced and renamed into place; the record commits durably: an acknowledged
    // chunk survives a crash of the server, the storage host or PostgreSQL.
    const recorded = await this.repo.recordChunk(f.id, idx, expected);
    if (!recorded) {
      // Completed or deleted while this chunk streamed: the stored copy is the same chunk
      // (complete only accepts exact sizes) or belongs to a file the reaper purges.
      throw uploadComplete();
    }
    return { index: idx, size: expected };
  }

  async status(userId: string, fileId: string): Promise<UploadStatus> {
    const f = await this.ownFile(fileId, userId);
    const layout = layoutOf(f);
    const present = (await this.repo.presentChunks(f.id))
      .filter(
        (c) => c.idx < layout.chunkCount && c.size_bytes === expectedChunkBytes(layout, c.idx),
      )
      .map((c) => c.idx);
    return {
      fileId: f.id,
      status: f.status === 'ready' ? 'ready' : 'uploading',
      chunkCount: f.chunk_count,
      present,
    };
  }

  /** Lists the file only once every chunk is on storage with its exact size; else 409 with what is missing. */
  async complete(userId: string, fileId: string): Promise<FileView> {
    const row = await withTransaction(this.pool, async (tx) => {
      const repo = new VdriveRepository(tx);
      const f = await repo.lockFile(fileId, userId);
      if (!f) throw new NotFoundError();
      if (f.status === 'ready') return f;
      const layout = layoutOf(f);
      const have = new Map((await repo.presentChunks(f.id)).map((c) => [c.idx, c.size_bytes]));
      const missing: number[] = [];
      for (let i = 0; i < layout.chunkCount; i++) {
        if (have.get(i) !== expectedChunkBytes(layout, i)) missing.push(i);
      }
      if (missing.length) throw chunksMissing(missing);
      await repo.markReady(f.id);
      return { ...f, status: 'ready' as const, completed_at: new Date() };
    });
    return fileView(row);
  }

  /** Whether blob storage answers and takes writes (`/ready`); rejects with the reason. */
  checkStorage(): Promise<void> {
    return this.store.check();
  }

  async get(userId: string, fileId: string): Promise<FileView> {
    return fileView(await this.ownFile(fileId, userId));
  }

  async list(
    userId: string,
    limit: number,
    cursor?: string,
  ): Promise<{ files: FileView[]; nextCursor: string | null }> {
    let after: { createdAt: string; id: string } | undefined;
    if (cursor) {
      const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
      if (!createdAt || !id || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id)) {
        throw new BadRequestError('cursor is not one this server handed out.');
      }
      after = { createdAt, id };
    }
    const rows = await this.repo.list(userId, limit, after);
    const lastRow = rows.length === limit ? rows[rows.length - 1] : undefined;
    return {
      files: rows.map(fileView),
      nextCursor: lastRow
        ? Buffer.from(`${lastRow.created_at.toISOString()}|${lastRow.id}`).toString('base64url')
        : null,
    };
  }

  /** A complete file's row, for the share service (membership is checked there). */
  async readyFile(fileId: string): Promise<FileRow | undefined> {
    return this.repo.readyFile(fileId);
  }

  async ownReadyFile(userId: string, fileId: string): Promise<FileRow> {
    const f = await this.ownFile(fileId, userId);
    if (f.status !== 'ready') throw new NotFoundError();
    return f;
  }

  /** One chunk of a complete file, streamed from storage. */
  async openChunk(
    f: FileRow,
    idx: number,
  ): Promise<{ stream: ReadableStream<Uint8Array>; size: number }> {
    const layout = layoutOf(f);
    if (!Number.isInteger(idx) || idx < 0 || idx >= layout.chunkCount) {
      throw new ChunkOutOfRangeError(layout.chunkCount);
    }
    const stream = await this.store.get(chunkBlobName(this.objectId(f), idx));
    return { stream, size: expectedChunkBytes(layout, idx) };
  }

  /** header ‖ every chunk in order, pulled one chunk at a time: memory stays flat. */
  openContent(f: FileRow): { stream: ReadableStream<Uint8Array>; size: number } {
    const objectId = this.objectId(f);
    const count = f.chunk_count;
    const header = new Uint8Array(f.file_header);
    let next = 0;
    let sentHeader = false;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        if (!sentHeader) {
          sentHeader = true;
          c.enqueue(header);
          return;
        }
        for (;;) {
          if (!reader) {
            if (next >= count) {
              c.close();
              return;
            }
            reader = (await this.store.get(chunkBlobName(objectId, next++))).getReader();
          }
          const r = await reader.read();
          if (!r.done) {
            c.enqueue(r.value);
            return;
          }
          reader = undefined;
        }
      },
      cancel: async (reason) => {
        await reader?.cancel(reason);
      },
    });
    return { stream, size: Number(f.stored_size_bytes) };
  }

  async chunk(userId: string, fileId: string, idx: number) {
    return this.openChunk(await this.ownReadyFile(userId, fileId), idx);
  }

  async content(userId: string, fileId: string) {
    return this.openContent(await this.ownReadyFile(userId, fileId));
  }

  async preview(userId: string, fileId: string): Promise<Buffer> {
    await this.ownReadyFile(userId, fileId);
    return this.previewOf(fileId);
  }

  async previewOf(fileId: string): Promise<Buffer> {
    const p = await this.repo.preview(fileId);
    if (!p) throw new NotFoundError('This file has no preview.');
    return p;
  }

  /**
   * Idempotent for the owner: the row stops being listed and its shares' wraps go in one
   * transaction; the blobs are removed right after (and by the reaper if that fails).
   */
  async delete(userId: string, fileId: string): Promise<void> {
    const deleted = await withTransaction(this.pool, async (tx) => {
      const repo = new VdriveRepository(tx);
      if (!(await repo.markDeleted(fileId, userId))) {
        if (await repo.ownsDeleted(fileId, userId)) return false;
        throw new NotFoundError();
      }
      await repo.revokeSharesOfFile(fileId);
      return true;
    });
    if (deleted)
      await this.purge(50).catch((err) =>
        this.logger.warn(
          { err: { message: (err as Error).message } },
          'purge after delete failed; the reaper retries',
        ),
      );
  }

  /** Removes the blobs of deleted files (at most `limit` files). */
  async purge(limit: number): Promise<number> {
    const rows = await this.repo.toPurge(limit);
    for (const r of rows) {
      if (r.synology_path_encrypted) {
        const objectId = this.objectId({
          id: r.id,
          synology_path_encrypted: r.synology_path_encrypted,
        });
        for (let i = 0; i < r.chunk_count; i++) await this.store.delete(chunkBlobName(objectId, i));
      }
      await this.repo.markPurged(r.id);
    }
    return rows.length;
  }

  /**
   * The reaper: uploads untouched for `reapAfterMs` become deleted and their blobs are purged;
   * partial objects and objects no live file owns, older than that, are removed too.
   */
  async reap(now = new Date()): Promise<{ abandoned: number; purged: number; orphans: number }> {
    const cutoff = new Date(now.getTime() - this.opts.reapAfterMs);
    const abandoned = (await this.repo.abandonOlderThan(cutoff)).length;
    let purged = 0;
    for (let n = await this.purge(100); n > 0; n = await this.purge(100)) purged += n;
    const live = new Set<string>();
    for (const r of await this.repo.liveObjects()) {
      const objectId = this.objectId(r);
      for (let i = 0; i < r.chunk_count; i++) live.add(chunkBlobName(objectId, i));
    }
    let orphans = 0;
    for await (const b of this.store.list()) {
      if (b.modifiedAt >= cutoff) continue;
      if (b.partial) await this.store.deletePartial(b.name);
      else if (!live.has(b.name)) await this.store.delete(b.name);
      else continue;
      orphans++;
    }
    if (abandoned || purged || orphans)
      this.logger.info({ abandoned, purged, orphans }, 'vdrive reaper');
    return { abandoned, purged, orphans };
  }
}
