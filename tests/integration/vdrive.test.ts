import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadToFile, resumeFile, uploadFile } from '../../src/client/drive-node.ts';
import { readAllBytes, UploadInterruptedError } from '../../src/client/index.ts';
import { CryptoError } from '../../src/crypto/errors.ts';
import { startTestServer, type TestServer, useTestServer } from '../helpers/app.ts';
import { chunkPath, createBody, personWith, swapFiles, vdriveEnv } from '../helpers/vdrive.ts';
import { startWebDav, type TestWebDav } from '../helpers/webdav.ts';

const env = vdriveEnv();
afterAll(() => env.cleanup());
const CHUNK = 1024;

describe('VDrive: encrypted chunked files through VutlerClient', () => {
  const t = useTestServer(env.overrides);

  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17])(
    'round-trips a %i-byte file (chunk size 1 KiB) as a stream and to a path',
    async (size) => {
      const alice = await personWith(t.server.url, 'alice');
      const content = randomBytes(size);
      const progress: number[] = [];
      const file = await alice.client.drive.upload(new Blob([content]), {
        name: `notes-${size}.bin`,
        chunkSize: CHUNK,
        onProgress: (done, total) => {
          expect(total).toBe(size);
          progress.push(done);
        },
      });
      expect(progress.at(-1)).toBe(size);
      expect(file.chunkCount).toBe(Math.max(1, Math.ceil(size / CHUNK)));
      const back = await readAllBytes(await alice.client.drive.download(file.id));
      expect(Buffer.from(back).equals(content)).toBe(true);
      const target = path.join(env.dir, `out-${size}-${randomBytes(3).toString('hex')}`);
      await downloadToFile(alice.client.drive, file.id, target);
      expect((await readFile(target)).equals(content)).toBe(true);
      const one = await alice.client.http.raw(`/api/files/${file.id}/chunks/0`);
      expect(Number(one.headers.get('content-length'))).toBe(Math.min(size, CHUNK) + 16);
      await one.body?.cancel();
    },
  );

  it('round-trips 50 MiB from a file path with the default 1 MiB chunks', async () => {
    const alice = await personWith(t.server.url, 'alice');
    const source = path.join(env.dir, 'fifty.bin');
    const content = randomBytes(50 * 1024 * 1024);
    await writeFile(source, content);
    const file = await uploadFile(alice.client.drive, source, { concurrency: 4 });
    expect(file.meta).toMatchObject({ name: 'fifty.bin', size: content.length });
    expect(file.chunkCount).toBe(50);
    const target = path.join(env.dir, 'fifty.out');
    await downloadToFile(alice.client.drive, file.id, target);
    expect((await readFile(target)).equals(content)).toBe(true);
  }, 120_000);

  it('uploads over nodeUploadFetch (node:http) byte for byte, with problems and aborts as with fetch', async () => {
    const { nodeUploadFetch } = await import('../../src/client/transport-node.ts');
    const { person } = await import('../helpers/people.ts');
    const alice = await person(t.server.url, 'alice', { uploadFetch: nodeUploadFetch() });
    // Pieces of the source stream that are exactly one chunk are passed on uncopied; mixed sizes
    // go through the copying path: both must give the same bytes.
    const content = randomBytes(3 * 1024 * 1024 + 100);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(content.subarray(0, 1024 * 1024));
        c.enqueue(content.subarray(1024 * 1024, 1024 * 1024 + 7));
        c.enqueue(content.subarray(1024 * 1024 + 7));
        c.close();
      },
    });
    const file = await alice.client.drive.upload(stream, { name: 'n.bin', size: content.length });
    const back = await readAllBytes(await alice.client.drive.download(file.id));
    expect(Buffer.from(back).equals(content)).toBe(true);
    // A problem answer is mapped to VutlerApiError with its type, as on fetch.
    await expect(
      alice.client.http.raw(`/api/files/${file.id}/chunks/0`, {
        method: 'PUT',
        body: randomBytes(1024 * 1024 + 16),
      }),
    ).rejects.toMatchObject({ status: 409, type: 'upload-complete' });
    // An aborted upload stops with the abort reason inside UploadInterruptedError.
    const abort = new AbortController();
    abort.abort(new Error('user cancelled'));
    const err = await alice.client.drive
      .upload(new Blob([randomBytes(2000)]), {
        name: 'a.bin',
        chunkSize: CHUNK,
        signal: abort.signal,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadInterruptedError);
    expect((err as UploadInterruptedError).cause).toMatchObject({ message: 'user cancelled' });
  });

  it('resumes an upload interrupted half way and sends only the missing chunks', async () => {
    let puts = 0;
    let cut = true;
    const sent: string[] = [];
    const alice = await personWith(t.server.url, 'alice', async (input, init) => {
      if (init?.method === 'PUT' && input.includes('/chunks/')) {
        puts++;
        if (cut && puts > 4) throw new TypeError('fetch failed: network is down');
        sent.push(input.split('/chunks/')[1]!);
      }
      return fetch(input, init);
    });
    const content = randomBytes(10 * CHUNK + 5);
    const source = path.join(env.dir, `resume-${randomBytes(3).toString('hex')}.bin`);
    await writeFile(source, content);
    const err = await uploadFile(alice.client.drive, source, {
      chunkSize: CHUNK,
      concurrency: 1,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadInterruptedError);
    const fileId = (err as UploadInterruptedError).fileId;
    // Not listed while incomplete, and completing now is refused with what is missing.
    expect((await alice.client.drive.list()).files.map((f) => f.id)).not.toContain(fileId);
    await expect(
      alice.client.http.request(`/api/files/${fileId}/complete`, { method: 'POST' }),
    ).rejects.toMatchObject({ status: 409, type: 'chunks-missing' });
    const status = await alice.client.http.request<{ present: number[] }>(
      `/api/files/${fileId}/upload`,
    );
    expect(status.present).toEqual([0, 1, 2, 3]);
    cut = false;
    sent.length = 0;
    const file = await resumeFile(alice.client.drive, fileId, source, { concurrency: 2 });
    expect(sent.sort((a, b) => Number(a) - Number(b))).toEqual([
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      '10',
    ]);
    expect((await alice.client.drive.list()).files.map((f) => f.id)).toContain(file.id);
    expect(
      Buffer.from(await readAllBytes(await alice.client.drive.download(fileId))).equals(content),
    ).toBe(true);
  });

  describe('a tampered file never appears under its name', () => {
    async function uploaded(
      client: Awaited<ReturnType<typeof personWith>>['client'],
      size = 4 * CHUNK + 9,
    ) {
      const content = randomBytes(size);
      const file = await client.drive.upload(new Blob([content]), {
        name: 'x.bin',
        chunkSize: CHUNK,
      });
      return { file, content };
    }
    async function expectRefused(
      client: Awaited<ReturnType<typeof personWith>>['client'],
      fileId: string,
      code?: string,
    ) {
      const target = path.join(env.dir, `tampered-${randomBytes(4).toString('hex')}`);
      const err = await downloadToFile(client.drive, fileId, target).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CryptoError);
      if (code) expect((err as CryptoError).code).toBe(code);
      expect(existsSync(target)).toBe(false);
      expect((await readdir(env.dir)).filter((f) => f.endsWith('.part'))).toEqual([]);
    }

    it('a flipped bit in a stored chunk', async () => {
      const alice = await personWith(t.server.url, 'alice');
      const { file } = await uploaded(alice.client);
      const p = await chunkPath(t.db.pool, env, file.id, 2);
      const bytes = await readFile(p);
      bytes[100]! ^= 1;
      await writeFile(p, bytes);
      await expectRefused(alice.client, file.id, 'decrypt_failed');
    });

    it('two chunks swapped (reordered)', async () => {
      const alice = await personWith(t.server.url, 'alice');
      const { file } = await uploaded(alice.client);
      await swapFiles(
        await chunkPath(t.db.pool, env, file.id, 0),
        await chunkPath(t.db.pool, env, file.id, 1),
      );
      await expectRefused(alice.client, file.id, 'decrypt_failed');
    });

    it('a chunk duplicated over the next one', async () => {
      const alice = await personWith(t.server.url, 'alice');
      const { file } = await uploaded(alice.client);
      const first = await readFile(await chunkPath(t.db.pool, env, file.id, 1));
      await writeFile(await chunkPath(t.db.pool, env, file.id, 2), first);
      await expectRefused(alice.client, file.id, 'decrypt_failed');
    });

    it('the final chunk missing (the server drops it from the row)', async () => {
      const alice = await personWith(t.server.url, 'alice');
      const { file } = await uploaded(alice.client, 4 * CHUNK);
      await t.db.pool.query(
        'UPDATE files SET chunk_count = chunk_count - 1, stored_size_bytes = stored_size_bytes - $2 WHERE id = $1',
        [file.id, CHUNK + 16],
      );
      await expectRefused(alice.client, file.id, 'truncated');
    });

    it('a chunk of another file of the same user', async () => {
      const alice = await personWith(t.server.url, 'alice');
      const { file } = await uploaded(alice.client);
      const other = await uploaded(alice.client);
      await writeFile(
        await chunkPath(t.db.pool, env, file.id, 1),
        await readFile(await chunkPath(t.db.pool, env, other.file.id, 1)),
      );
      await expectRefused(alice.client, file.id, 'decrypt_failed');
    });

    it('positive control: the untouched file downloads to its path', async () => {
      const alice = await personWith(t.server.url, 'alice');
      const { file, content } = await uploaded(alice.client);
      const target = path.join(env.dir, `ok-${randomBytes(4).toString('hex')}`);
      await downloadToFile(alice.client.drive, file.id, target);
      expect((await readFile(target)).equals(content)).toBe(true);
    });
  });

  it('lists with decrypted names, pages by cursor, and deletes idempotently with the blobs', async () => {
    const alice = await personWith(t.server.url, 'alice');
    const ids: string[] = [];
    for (const n of ['a.txt', 'b.txt', 'c.txt']) {
      ids.push(
        (
          await alice.client.drive.upload(new Blob([`content of ${n}`]), {
            name: n,
            type: 'text/plain',
          })
        ).id,
      );
    }
    const page1 = await alice.client.drive.list({ limit: 2 });
    expect(page1.files.map((f) => f.meta.name)).toEqual(['c.txt', 'b.txt']);
    expect(page1.cursor).not.toBeNull();
    const page2 = await alice.client.drive.list({ limit: 2, cursor: page1.cursor! });
    expect(page2.files.map((f) => f.meta.name)).toEqual(['a.txt']);
    expect(page2.cursor).toBeNull();
    const blobPath = await chunkPath(t.db.pool, env, ids[0]!, 0);
    expect(existsSync(blobPath)).toBe(true);
    await alice.client.drive.delete(ids[0]!);
    await alice.client.drive.delete(ids[0]!);
    expect(existsSync(blobPath)).toBe(false);
    expect((await alice.client.drive.list()).files.map((f) => f.meta.name)).toEqual([
      'c.txt',
      'b.txt',
    ]);
    await expect(alice.client.drive.download(ids[0]!)).rejects.toMatchObject({ status: 404 });
  });

  it('answers another user 404 on every route of a file not shared with them', async () => {
    const alice = await personWith(t.server.url, 'alice');
    const eve = await personWith(t.server.url, 'eve');
    const file = await alice.client.drive.upload(new Blob([randomBytes(3000)]), {
      name: 'secret',
      chunkSize: CHUNK,
      preview: Uint8Array.of(1, 2),
    });
    const open = await alice.client.http.request<{ id: string }>('/api/files', {
      body: await createBody(alice.client, randomBytes(10), CHUNK),
    });
    const base = `/api/files/${file.id}`;
    const openBase = `/api/files/${open.id}`;
    const attempts: Array<() => Promise<unknown>> = [
      () => eve.client.http.request(base),
      () => eve.client.http.request(`${base}/upload`),
      () => eve.client.http.request(`${base}/complete`, { method: 'POST' }),
      () => eve.client.http.raw(`${base}/chunks/0`),
      () => eve.client.http.raw(`${base}/content`),
      () => eve.client.http.raw(`${base}/preview`),
      () => eve.client.http.request(base, { method: 'DELETE' }),
      () => eve.client.http.raw(`${openBase}/chunks/0`, { method: 'PUT', body: randomBytes(26) }),
      () => eve.client.http.request(`${openBase}/upload`),
      () => eve.client.http.request(`${openBase}/complete`, { method: 'POST' }),
      () => eve.client.http.request(`${base}/shares`, { body: {} }),
    ];
    for (const a of attempts)
      await expect(a()).rejects.toMatchObject({ status: 404, type: 'not-found' });
    // Nothing changed for Alice.
    expect(Buffer.from(await readAllBytes(await alice.client.drive.download(file.id))).length).toBe(
      3000,
    );
    expect((await eve.client.drive.list()).files).toEqual([]);
  });
});

describe('VDrive on webdav storage (a real WebDAV server on 127.0.0.1)', () => {
  let dav: TestWebDav;
  let server: TestServer;
  const t = useTestServer(env.overrides);
  beforeAll(async () => {
    dav = await startWebDav();
    server = await startTestServer(t.db.pool, t.redis, {
      VUTLER_STORAGE: 'webdav',
      VUTLER_STORAGE_WEBDAV_URL: dav.url,
      VUTLER_STORAGE_WEBDAV_USERNAME: dav.username,
      VUTLER_STORAGE_WEBDAV_PASSWORD: dav.password,
    });
  });
  afterAll(async () => {
    await server?.close();
    await dav?.close();
  });

  it('uploads, downloads and deletes through the NAS, under random names', async () => {
    const alice = await personWith(server.url, 'alice');
    const content = randomBytes(3 * CHUNK + 100);
    const file = await alice.client.drive.upload(new Blob([content]), {
      name: 'on-nas.bin',
      chunkSize: CHUNK,
    });
    expect(
      Buffer.from(await readAllBytes(await alice.client.drive.download(file.id))).equals(content),
    ).toBe(true);
    const onNas = async () => {
      const names: string[] = [];
      for (const d of await readdir(dav.dir)) {
        if (d !== '.tmp') names.push(...(await readdir(path.join(dav.dir, d))));
      }
      return names;
    };
    expect((await onNas()).length).toBe(4);
    expect((await onNas()).every((n) => /^[0-9a-f]{32}$/.test(n))).toBe(true);
    await alice.client.drive.delete(file.id);
    expect(await onNas()).toEqual([]);
  });
});
