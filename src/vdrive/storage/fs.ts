import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  type BlobInfo,
  BlobMissingError,
  type BlobStore,
  type ByteSource,
  checkBlobName,
  checkPartialName,
  iterateBytes,
  StorageFullError,
  StorageUnavailableError,
} from './types.ts';

const READ_BYTES = 256 * 1024;
const WRITE_BYTES = 512 * 1024;
const TMP_DIR = '.tmp';

/** Errors that mean "the disk is full" vs "the disk (or NAS mount) is not there or broken". */
function mapFsError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return new StorageFullError();
  if (
    code &&
    [
      'EACCES',
      'EPERM',
      'EROFS',
      'EIO',
      'ENOTDIR',
      'ENOENT',
      'ESTALE',
      'ENXIO',
      'EHOSTDOWN',
      'ETIMEDOUT',
    ].includes(code)
  ) {
    return new StorageUnavailableError(undefined, err);
  }
  return err;
}

/**
 * Makes a rename in `dir` durable: without it a crash can lose the new name even though the
 * file's bytes were synced, and an acknowledged chunk would be missing. Filesystems that cannot
 * sync a directory (EINVAL, ENOTSUP; some network mounts) are left to their own guarantees.
 */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') throw err;
  } finally {
    await fh.close();
  }
}

/**
 * A directory: local disk, or a Synology share mounted over NFS/SMB. Objects live in 256
 * fan-out directories by their first two hex digits. A write goes to `.tmp/`, is fsynced, then
 * renamed into place (same filesystem, so atomic) and the directory fsynced: a crash never leaves
 * a half object under its final name, only a temp file the reaper removes, and an object `put`
 * returned for is on disk under its name.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs';
  private readonly made = new Set<string>();
  private rootSeen = false;

  constructor(private readonly root: string) {}

  private finalPath(name: string): string {
    checkBlobName(name);
    return path.join(this.root, name.slice(0, 2), name);
  }

  /**
   * The root is created once, the first time this process uses it (a fresh install). After that
   * a missing root is an outage (a NAS mount that went away), never silently replaced by a new
   * local directory: the directories below it are made one level at a time.
   */
  private async ensureDir(dir: string): Promise<void> {
    if (this.made.has(dir)) return;
    if (!this.rootSeen) {
      await mkdir(this.root, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
        // A file where the directory should be.
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
        throw err;
      });
      this.rootSeen = true;
    }
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.made.add(dir);
  }

  async put(name: string, body: ByteSource): Promise<{ size: number }> {
    const final = this.finalPath(name);
    const tmpDir = path.join(this.root, TMP_DIR);
    const tmp = path.join(tmpDir, `${name}.${randomBytes(6).toString('hex')}`);
    let size = 0;
    let bodyError: unknown;
    try {
      await this.ensureDir(tmpDir);
      await this.ensureDir(path.dirname(final));
      const fh = await open(tmp, 'wx', 0o600);
      // Request bodies arrive in ~64 KiB pieces; batching them into one buffer turns a dozen
      // thread-pool writes per chunk into one or two, with memory bounded by WRITE_BYTES.
      const batch = new Uint8Array(WRITE_BYTES);
      let fill = 0;
      const flush = async () => {
        let off = 0;
        while (off < fill) off += (await fh.write(batch, off, fill - off)).bytesWritten;
        fill = 0;
      };
      try {
        const pieces = iterateBytes(body);
        for (;;) {
          let r: IteratorResult<Uint8Array>;
          try {
            r = await pieces.next();
          } catch (err) {
            bodyError = err;
            throw err;
          }
          if (r.done) break;
          const piece = r.value;
          let off = 0;
          while (off < piece.length) {
            const n = Math.min(WRITE_BYTES - fill, piece.length - off);
            batch.set(piece.subarray(off, off + n), fill);
            fill += n;
            off += n;
            if (fill === WRITE_BYTES) await flush();
          }
          size += piece.length;
        }
        await flush();
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
      await syncDir(path.dirname(final));
      return { size };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (err === bodyError) throw err;
      // The tree may have gone (and come back): make the directories again next time.
      this.made.clear();
      throw mapFsError(err);
    }
  }

  async get(name: string): Promise<ReadableStream<Uint8Array>> {
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.finalPath(name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobMissingError();
      throw mapFsError(err);
    }
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await fh.close().catch(() => undefined);
      }
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const buf = new Uint8Array(READ_BYTES);
          const { bytesRead } = await fh.read(buf, 0, READ_BYTES, null);
          if (bytesRead === 0) {
            await close();
            controller.close();
          } else {
            controller.enqueue(buf.subarray(0, bytesRead));
          }
        } catch (err) {
          await close();
          controller.error(mapFsError(err));
        }
      },
      cancel: close,
    });
  }

  async stat(name: string): Promise<BlobInfo | null> {
    try {
      const s = await stat(this.finalPath(name));
      return { name, size: s.size, modifiedAt: s.mtime, partial: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw mapFsError(err);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await rm(this.finalPath(name), { force: true });
    } catch (err) {
      throw mapFsError(err);
    }
  }

  /** Removes a partial object that `list` reported. */
  async deletePartial(name: string): Promise<void> {
    await rm(path.join(this.root, TMP_DIR, checkPartialName(name)), { force: true }).catch(
      (err) => {
        throw mapFsError(err);
      },
    );
  }

  async *list(): AsyncIterable<BlobInfo> {
    let dirs: string[];
    try {
      dirs = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw mapFsError(err);
    }
    for (const d of dirs.sort()) {
      const partial = d === TMP_DIR;
      if (!partial && !/^[0-9a-f]{2}$/.test(d)) continue;
      const names = await readdir(path.join(this.root, d)).catch(() => [] as string[]);
      for (const name of names) {
        const s = await stat(path.join(this.root, d, name)).catch(() => null);
        if (s?.isFile()) yield { name, size: s.size, modifiedAt: s.mtime, partial };
      }
    }
  }

  /** The root is there, is a directory, and a file can be created in it (for `/ready`). */
  async check(): Promise<void> {
    const tmpDir = path.join(this.root, TMP_DIR);
    try {
      await this.ensureDir(tmpDir);
      const s = await stat(this.root);
      if (!s.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      const probe = path.join(tmpDir, `probe.${randomBytes(6).toString('hex')}`);
      const fh = await open(probe, 'wx', 0o600);
      await fh.close();
      await unlink(probe);
    } catch (err) {
      this.made.clear();
      const code = (err as NodeJS.ErrnoException).code;
      // Say which of the usual faults it is; never the path (the answer is unauthenticated).
      if (code === 'ENOENT')
        throw new StorageUnavailableError('The storage directory is missing.', err);
      if (code === 'ENOTDIR')
        throw new StorageUnavailableError('The storage path is not a directory.', err);
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
        throw new StorageUnavailableError('The storage directory is not writable.', err);
      throw mapFsError(err);
    }
  }
}
