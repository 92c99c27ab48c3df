import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/vdrive/storage/fs.ts';
import {
  BlobMissingError,
  type BlobStore,
  StorageFullError,
  StorageUnavailableError,
} from '../../src/vdrive/storage/types.ts';
import { WebDavBlobStore } from '../../src/vdrive/storage/webdav.ts';
import { startWebDav, type TestWebDav } from '../helpers/webdav.ts';

function name(): string {
  return randomBytes(16).toString('hex');
}

function streamOf(...parts: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
}

/** A body that yields some bytes, then fails — like a client that disconnects mid-upload. */
function failingStream(first: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(first);
      } else c.error(new Error('client went away'));
    },
  });
}

/** Reads with a web-stream reader, as the service does: a Node stream would not pass. */
async function readAll(s: ReadableStream<Uint8Array>): Promise<Buffer> {
  expect(s).toBeInstanceOf(ReadableStream);
  const reader = s.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    parts.push(value);
  }
}

async function listAll(store: BlobStore) {
  const out = [];
  for await (const b of store.list()) out.push(b);
  return out;
}

interface Backend {
  label: string;
  setup: () => Promise<{ store: BlobStore; teardown: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    label: 'fs',
    setup: async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'vutler-blobs-'));
      return {
        store: new FsBlobStore(dir),
        teardown: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    label: 'webdav (real webdav-server on 127.0.0.1)',
    setup: async () => {
      const dav: TestWebDav = await startWebDav();
      return { store: new WebDavBlobStore(dav), teardown: dav.close };
    },
  },
];

describe.each(backends)('the storage contract on $label', ({ setup }) => {
  let store: BlobStore;
  let teardown: () => Promise<void>;
  beforeAll(async () => {
    ({ store, teardown } = await setup());
  });
  afterAll(async () => teardown?.());

  it('answers its health check', async () => {
    await expect(store.check()).resolves.toBeUndefined();
  });

  it('round-trips empty, small and multi-part objects byte for byte', async () => {
    for (const parts of [[], [randomBytes(1)], [randomBytes(70_000), randomBytes(300_001)]]) {
      const n = name();
      const { size } = await store.put(n, streamOf(...parts));
      const expected = Buffer.concat(parts);
      expect(size).toBe(expected.length);
      expect(await readAll(await store.get(n))).toEqual(expected);
      expect((await store.stat(n))?.size).toBe(expected.length);
    }
  });

  it('replaces an object put again under the same name', async () => {
    const n = name();
    await store.put(n, streamOf(Buffer.from('first version')));
    await store.put(n, streamOf(Buffer.from('second')));
    expect((await readAll(await store.get(n))).toString()).toBe('second');
  });

  it('never shows a half-written object under its name when the body fails', async () => {
    const n = name();
    await expect(store.put(n, failingStream(randomBytes(1000)))).rejects.toThrow(
      'client went away',
    );
    expect(await store.stat(n)).toBeNull();
    await expect(store.get(n)).rejects.toBeInstanceOf(BlobMissingError);
    // The previous version survives a failed overwrite.
    await store.put(n, streamOf(Buffer.from('kept')));
    await expect(store.put(n, failingStream(randomBytes(10)))).rejects.toThrow();
    expect((await readAll(await store.get(n))).toString()).toBe('kept');
  });

  it('deletes idempotently and reports missing objects as missing', async () => {
    const n = name();
    await store.put(n, streamOf(randomBytes(10)));
    await store.delete(n);
    await store.delete(n);
    expect(await store.stat(n)).toBeNull();
    await expect(store.get(n)).rejects.toBeInstanceOf(BlobMissingError);
  });

  it('lists every object with its size for the reaper', async () => {
    const a = name();
    const b = name();
    await store.put(a, streamOf(randomBytes(5)));
    await store.put(b, streamOf(randomBytes(7)));
    const listed = await listAll(store);
    expect(listed.find((x) => x.name === a)).toMatchObject({ size: 5, partial: false });
    expect(listed.find((x) => x.name === b)).toMatchObject({ size: 7, partial: false });
    expect(listed.every((x) => x.modifiedAt instanceof Date && !Number.isNaN(+x.modifiedAt))).toBe(
      true,
    );
  });

  it('refuses names that are not server-made ids (no path can be smuggled in)', async () => {
    for (const bad of ['../etc/passwd', 'a/b', '', 'ABCDEF0123456789ABCDEF0123456789']) {
      await expect(store.put(bad, streamOf())).rejects.toThrow('invalid blob name');
      await expect(store.stat(bad)).rejects.toThrow('invalid blob name');
    }
  });
});

describe('storage failures', () => {
  it('fs: a partial left by a crash is listed as partial and can be removed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vutler-blobs-'));
    try {
      const store = new FsBlobStore(dir);
      await store.check();
      const partial = `${name()}.${randomBytes(6).toString('hex')}`;
      await writeFile(path.join(dir, '.tmp', partial), 'half');
      const listed = await listAll(store);
      expect(listed).toEqual([expect.objectContaining({ name: partial, partial: true })]);
      await store.deletePartial(partial);
      expect(await readdir(path.join(dir, '.tmp'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fs: a full disk (ENOSPC on a 256 KiB tmpfs) is "full" (507) and leaves no partial', async () => {
    // Mounting needs root, as in CI here; the disk filling up is otherwise impossible to stage.
    const dir = await mkdtemp(path.join(tmpdir(), 'vutler-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
    try {
      const store = new FsBlobStore(dir);
      const n = name();
      const err = await store
        .put(n, streamOf(randomBytes(200_000), randomBytes(200_000)))
        .catch((e) => e);
      expect(err).toBeInstanceOf(StorageFullError);
      expect(err.status).toBe(507);
      expect(await store.stat(n)).toBeNull();
      expect(await readdir(path.join(dir, '.tmp'))).toEqual([]);
      // Positive control: what fits is stored.
      await store.put(n, streamOf(randomBytes(1000)));
      expect((await store.stat(n))?.size).toBe(1000);
    } finally {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fs: a storage path that cannot be used is "unavailable" (503)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vutler-blobs-'));
    try {
      // A regular file where the storage directory should be: like a NAS mount that is gone.
      await writeFile(path.join(dir, 'not-a-dir'), 'x');
      const store = new FsBlobStore(path.join(dir, 'not-a-dir'));
      const err = await store.put(name(), streamOf(randomBytes(3))).catch((e) => e);
      expect(err).toBeInstanceOf(StorageUnavailableError);
      expect(err.status).toBe(503);
      await expect(store.check()).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('webdav: a NAS that does not answer is "unavailable" (503)', async () => {
    const store = new WebDavBlobStore({ url: 'http://127.0.0.1:1/' });
    const err = await store.put(name(), streamOf(randomBytes(3))).catch((e) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    await expect(store.get(name())).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it('webdav: a NAS answering 507 Insufficient Storage is "full" (507)', async () => {
    // A WebDAV endpoint whose disk is full: collections exist, every PUT gets 507.
    const full: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = req.method === 'PUT' ? 507 : req.method === 'MKCOL' ? 405 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => full.listen(0, '127.0.0.1', r));
    try {
      const { port } = full.address() as AddressInfo;
      const store = new WebDavBlobStore({ url: `http://127.0.0.1:${port}/` });
      const err = await store.put(name(), streamOf(randomBytes(3))).catch((e) => e);
      expect(err).toBeInstanceOf(StorageFullError);
      expect(err.status).toBe(507);
    } finally {
      await new Promise((r) => full.close(r));
    }
  });
});
