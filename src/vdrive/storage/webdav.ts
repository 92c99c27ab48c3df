import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FileStat, WebDAVClient } from 'webdav';
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

const TMP_DIR = '.tmp';

function statusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; response?: { status?: unknown } };
  const s = e.status ?? e.response?.status;
  return typeof s === 'number' ? s : undefined;
}

/** 507 is the NAS saying it is full; no answer, or a 5xx/auth failure, means it is unusable. */
function mapDavError(err: unknown): unknown {
  if (err instanceof StorageFullError || err instanceof StorageUnavailableError) return err;
  const status = statusOf(err);
  if (status === 507 || status === 413) return new StorageFullError();
  return new StorageUnavailableError(undefined, err);
}

/**
 * A Synology NAS (or any WebDAV server) through its WebDAV Server, with the `webdav` client.
 * Same layout as `fs`: fan-out collections by the first two hex digits; a write is a PUT to
 * `.tmp/` followed by a MOVE onto the final name, so a reader never sees a partial object.
 */
export class WebDavBlobStore implements BlobStore {
  readonly kind = 'webdav';
  /** Loaded on first use: a node on the default `fs` storage never loads the WebDAV client. */
  private client: Promise<WebDAVClient> | undefined;
  private readonly made = new Set<string>();

  constructor(
    private readonly opts: {
      url: string;
      username?: string | undefined;
      password?: string | undefined;
    },
  ) {}

  private dav(): Promise<WebDAVClient> {
    this.client ??= import('webdav').then(({ createClient }) =>
      createClient(this.opts.url, {
        ...(this.opts.username
          ? { username: this.opts.username, password: this.opts.password ?? '' }
          : {}),
      }),
    );
    return this.client;
  }

  private finalPath(name: string): string {
    checkBlobName(name);
    return `/${name.slice(0, 2)}/${name}`;
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.made.has(dir)) return;
    try {
      // One level below the root, so no recursive PROPFIND walk is needed.
      await (await this.dav()).createDirectory(dir);
    } catch (err) {
      // 405: it exists already (MKCOL on an existing collection).
      if (statusOf(err) !== 405) throw err;
    }
    this.made.add(dir);
  }

  async put(name: string, body: ByteSource): Promise<{ size: number }> {
    const final = this.finalPath(name);
    const tmp = `/${TMP_DIR}/${name}.${randomBytes(6).toString('hex')}`;
    let size = 0;
    let bodyError: unknown;
    const counted = async function* () {
      try {
        for await (const piece of iterateBytes(body)) {
          size += piece.length;
          yield piece;
        }
      } catch (err) {
        bodyError ??= err;
        throw err;
      }
    };
    const source = Readable.from(counted(), { objectMode: false });
    source.on('error', () => undefined);
    try {
      await this.ensureDir(`/${TMP_DIR}`);
      await this.ensureDir(final.slice(0, 3));
      await (await this.dav()).putFileContents(tmp, source, {
        overwrite: true,
        contentLength: false,
      });
      if (bodyError) throw bodyError;
      await (await this.dav()).moveFile(tmp, final, { overwrite: true });
      return { size };
    } catch (err) {
      source.destroy();
      await (await this.dav()).deleteFile(tmp).catch(() => undefined);
      if (bodyError) throw bodyError;
      this.made.clear();
      throw mapDavError(err);
    }
  }

  async get(name: string): Promise<ReadableStream<Uint8Array>> {
    const p = this.finalPath(name);
    let res: Awaited<ReturnType<WebDAVClient['customRequest']>>;
    try {
      res = await (await this.dav()).customRequest(p, { method: 'GET' });
    } catch (err) {
      if (statusOf(err) === 404) throw new BlobMissingError();
      throw mapDavError(err);
    }
    // The client's Node build answers with a Node stream body; the interface promises a web one.
    const body = (res as unknown as { body: unknown }).body;
    if (!body) throw new BlobMissingError();
    if (body instanceof ReadableStream) return body as ReadableStream<Uint8Array>;
    return Readable.toWeb(body as Readable) as unknown as ReadableStream<Uint8Array>;
  }

  async stat(name: string): Promise<BlobInfo | null> {
    const p = this.finalPath(name);
    try {
      const s = (await (await this.dav()).stat(p)) as FileStat;
      return { name, size: s.size, modifiedAt: new Date(s.lastmod), partial: false };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw mapDavError(err);
    }
  }

  async delete(name: string): Promise<void> {
    await this.remove(this.finalPath(name));
  }

  async deletePartial(name: string): Promise<void> {
    await this.remove(`/${TMP_DIR}/${checkPartialName(name)}`);
  }

  private async remove(p: string): Promise<void> {
    try {
      await (await this.dav()).deleteFile(p);
    } catch (err) {
      if (statusOf(err) !== 404) throw mapDavError(err);
    }
  }

  private async contents(dir: string): Promise<FileStat[]> {
    try {
      return (await (await this.dav()).getDirectoryContents(dir)) as FileStat[];
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw mapDavError(err);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const d of await this.contents('/')) {
      const partial = d.basename === TMP_DIR;
      if (d.type !== 'directory' || (!partial && !/^[0-9a-f]{2}$/.test(d.basename))) continue;
      for (const f of await this.contents(`/${d.basename}`)) {
        if (f.type !== 'file') continue;
        yield { name: f.basename, size: f.size, modifiedAt: new Date(f.lastmod), partial };
      }
    }
  }

  /** The collection answers a PROPFIND (depth 0: no listing) with our credentials. */
  async check(): Promise<void> {
    try {
      await (await this.dav()).stat('/');
    } catch (err) {
      this.made.clear();
      const status = statusOf(err);
      if (status === 401 || status === 403)
        throw new StorageUnavailableError('The WebDAV server refused the credentials.', err);
      if (status !== undefined)
        throw new StorageUnavailableError(`The WebDAV server answered ${status}.`, err);
      throw new StorageUnavailableError('The WebDAV server cannot be reached.', err);
    }
  }
}
