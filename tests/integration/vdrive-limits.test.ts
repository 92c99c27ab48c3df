import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64Encode } from '../../src/crypto/bytes.ts';
import { startTestServer, type TestServer, useTestServer } from '../helpers/app.ts';
import { chunkPath, createBody, personWith, vdriveEnv } from '../helpers/vdrive.ts';

const env = vdriveEnv();
afterAll(() => env.cleanup());
const CHUNK = 1024;

type Person = Awaited<ReturnType<typeof personWith>>;

/** A started upload of `size` bytes (not completed), with the chunk sizes it expects. */
async function openUpload(p: Person, size: number) {
  const body = await createBody(p.client, randomBytes(size), CHUNK);
  return (await p.client.http.request<{ id: string }>('/api/files', { body })).id;
}

function put(p: Person, fileId: string, idx: string | number, bytes: Uint8Array) {
  return p.client.http.raw(`/api/files/${fileId}/chunks/${idx}`, { method: 'PUT', body: bytes });
}

/** A chunk upload without Content-Length (chunked transfer encoding), streamed. */
async function putStreamed(url: string, token: string, bytes: Uint8Array) {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let off = 0; off < bytes.length; off += 300) c.enqueue(bytes.subarray(off, off + 300));
      c.close();
    },
  });
  return fetch(url, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body,
    duplex: 'half',
  } as RequestInit);
}

describe('VDrive bad input: a clear problem, nothing half-written, never a 500', () => {
  const t = useTestServer(env.overrides);
  let alice: Person;
  beforeAll(async () => {
    alice = await personWith(t.server.url, 'alice');
  });

  it('refuses chunk indices out of range, negative or not decimal', async () => {
    const id = await openUpload(alice, 3 * CHUNK);
    for (const idx of ['3', '-1', '1.5', '0x1', '99999999999']) {
      await expect(put(alice, id, idx, randomBytes(CHUNK + 16))).rejects.toMatchObject({
        status: 400,
        type: 'chunk-out-of-range',
      });
    }
  });

  it('refuses a chunk of the wrong size (declared or streamed) and records nothing', async () => {
    const id = await openUpload(alice, 3 * CHUNK);
    await expect(put(alice, id, 0, randomBytes(CHUNK))).rejects.toMatchObject({
      status: 400,
      type: 'bad-chunk-size',
    });
    const streamed = await putStreamed(
      `${t.server.url}/api/files/${id}/chunks/1`,
      alice.client.session!.token,
      randomBytes(CHUNK + 3),
    );
    expect(streamed.status).toBe(400);
    expect((await streamed.json()).type).toBe('urn:vutler:problem:bad-chunk-size');
    const status = await alice.client.http.request<{ present: number[] }>(
      `/api/files/${id}/upload`,
    );
    expect(status.present).toEqual([]);
    expect(existsSync(await chunkPath(t.db.pool, env, id, 1))).toBe(false);
  });

  it('answers 413 for an oversize chunk, declared or streamed, and never buffers it', async () => {
    const id = await openUpload(alice, 3 * CHUNK);
    await expect(put(alice, id, 0, randomBytes(CHUNK + 17))).rejects.toMatchObject({ status: 413 });
    const streamed = await putStreamed(
      `${t.server.url}/api/files/${id}/chunks/0`,
      alice.client.session!.token,
      randomBytes(4 * CHUNK),
    );
    expect(streamed.status).toBe(413);
    expect(existsSync(await chunkPath(t.db.pool, env, id, 0))).toBe(false);
  });

  it('refuses chunks for a completed file and completing with chunks missing', async () => {
    const id = await openUpload(alice, 2 * CHUNK);
    await (await put(alice, id, 0, randomBytes(CHUNK + 16))).body?.cancel();
    await expect(
      alice.client.http.request(`/api/files/${id}/complete`, { method: 'POST' }),
    ).rejects.toMatchObject({
      status: 409,
      type: 'chunks-missing',
      body: expect.objectContaining({ missing: [1] }),
    });
    expect((await alice.client.drive.list()).files.map((f) => f.id)).not.toContain(id);
    await (await put(alice, id, 1, randomBytes(CHUNK + 16))).body?.cancel();
    await alice.client.http.request(`/api/files/${id}/complete`, { method: 'POST' });
    await expect(put(alice, id, 1, randomBytes(CHUNK + 16))).rejects.toMatchObject({
      status: 409,
      type: 'upload-complete',
    });
  });

  it("moves an open upload's reaper clock with its chunks, at most once a minute", async () => {
    const id = await openUpload(alice, 3 * CHUNK);
    const at = async () =>
      (
        (await t.db.pool.query('SELECT updated_at FROM files WHERE id = $1', [id])).rows[0] as {
          updated_at: Date;
        }
      ).updated_at.getTime();
    await t.db.pool.query(
      `UPDATE files SET updated_at = now() - interval '2 hours' WHERE id = $1`,
      [id],
    );
    const stale = await at();
    await (await put(alice, id, 0, randomBytes(CHUNK + 16))).body?.cancel();
    const moved = await at();
    expect(moved).toBeGreaterThan(stale + 3_600_000);
    await (await put(alice, id, 1, randomBytes(CHUNK + 16))).body?.cancel();
    expect(await at()).toBe(moved);
    const status = await alice.client.http.request<{ present: number[] }>(
      `/api/files/${id}/upload`,
    );
    expect(status.present).toEqual([0, 1]);
  });

  it('a chunk whose record waits on a concurrent complete is refused (409) and not recorded', async () => {
    const id = await openUpload(alice, 2 * CHUNK);
    // Play `complete`: lock the row FOR UPDATE, and mark it ready while a chunk PUT is waiting.
    const tx = await t.db.pool.connect();
    try {
      await tx.query('BEGIN');
      await tx.query('SELECT id FROM files WHERE id = $1 FOR UPDATE', [id]);
      const pending = put(alice, id, 1, randomBytes(CHUNK + 16)).then(
        (r) => r.status,
        (e: { status?: number; type?: string }) => e,
      );
      // Wait until the chunk's record statement is blocked on that row lock.
      for (let i = 0; i < 200; i++) {
        const { rows } = await t.db.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
             AND wait_event_type = 'Lock' AND query LIKE '%file_chunks%'`,
        );
        if (rows.length) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await tx.query(`UPDATE files SET status = 'ready', completed_at = now() WHERE id = $1`, [id]);
      await tx.query('COMMIT');
      expect(await pending).toMatchObject({ status: 409, type: 'upload-complete' });
    } finally {
      tx.release();
    }
    const { rows } = await t.db.pool.query('SELECT idx FROM file_chunks WHERE file_id = $1', [id]);
    expect(rows).toEqual([]);
  });

  it('refuses inconsistent or malformed create requests', async () => {
    const good = await createBody(alice.client, randomBytes(10), CHUNK);
    const cases: Array<[Record<string, unknown>, number]> = [
      [{ ...good, chunkCount: 2 }, 400],
      [{ ...good, ciphertextSize: good.ciphertextSize + 2 * CHUNK }, 400],
      [{ ...good, ciphertextSize: 50 }, 400],
      [{ ...good, chunkSize: 2048 }, 400],
      [{ ...good, id: crypto.randomUUID() }, 400],
      [{ ...good, header: base64Encode(randomBytes(80)) }, 400],
      [{ ...good, fileKeyEncrypted: 'not base64!' }, 422],
      [{ ...good, extra: 1 }, 422],
      [{ ...good, chunkCount: -1 }, 422],
    ];
    for (const [body, status] of cases) {
      await expect(alice.client.http.request('/api/files', { body })).rejects.toMatchObject({
        status,
      });
    }
    await alice.client.http.request('/api/files', { body: good });
    await expect(alice.client.http.request('/api/files', { body: good })).rejects.toMatchObject({
      status: 409,
      type: 'file-exists',
    });
  });

  it('answers 404 for unknown or malformed file ids', async () => {
    for (const id of [crypto.randomUUID(), 'nope', '../etc']) {
      await expect(alice.client.http.request(`/api/files/${id}`)).rejects.toMatchObject({
        status: 404,
      });
      await expect(put(alice, id, 0, randomBytes(20))).rejects.toMatchObject({ status: 404 });
    }
  });

  it('refuses a list cursor it did not hand out, and a limit out of range', async () => {
    for (const cursor of ['garbage', Buffer.from('2020-01-01|x').toString('base64url')]) {
      await expect(alice.client.drive.list({ cursor })).rejects.toMatchObject({
        status: 400,
        type: 'bad-request',
      });
    }
    await expect(alice.client.drive.list({ limit: 1000 })).rejects.toMatchObject({ status: 422 });
  });

  it('answers 507 when the quota would be exceeded, and lists nothing new', async () => {
    const small = await startTestServer(t.db.pool, t.redis, {
      ...env.overrides,
      VUTLER_STORAGE_QUOTA_BYTES: '5000',
    });
    try {
      const bob = await personWith(small.url, 'bob');
      await bob.client.drive.upload(new Blob([randomBytes(3000)]), {
        name: 'fits',
        chunkSize: CHUNK,
      });
      const err = await bob.client.drive
        .upload(new Blob([randomBytes(3000)]), { name: 'too much', chunkSize: CHUNK })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 507, type: 'quota-exceeded' });
      expect((await bob.client.drive.list()).files.map((f) => f.meta.name)).toEqual(['fits']);
    } finally {
      await small.close();
    }
  });

  describe('storage trouble', () => {
    let full: Server;
    let fullServer: TestServer;
    let goneServer: TestServer;
    beforeAll(async () => {
      // A WebDAV NAS whose disk is full: every PUT answers 507 Insufficient Storage.
      full = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.statusCode = req.method === 'PUT' ? 507 : req.method === 'MKCOL' ? 405 : 204;
          res.end();
        });
      });
      await new Promise<void>((r) => full.listen(0, '127.0.0.1', r));
      fullServer = await startTestServer(t.db.pool, t.redis, {
        ...env.overrides,
        VUTLER_STORAGE: 'webdav',
        VUTLER_STORAGE_WEBDAV_URL: `http://127.0.0.1:${(full.address() as AddressInfo).port}/`,
      });
      // A storage directory that is a regular file: like an NFS mount that went away.
      const notADir = path.join(env.dir, 'not-a-dir');
      await writeFile(notADir, 'x');
      goneServer = await startTestServer(t.db.pool, t.redis, {
        ...env.overrides,
        VUTLER_STORAGE_DIR: notADir,
      });
    });
    afterAll(async () => {
      await fullServer?.close();
      await goneServer?.close();
      await new Promise((r) => full?.close(r));
    });

    it('storage full is a 507 problem and the chunk is not recorded', async () => {
      const bob = await personWith(fullServer.url, 'bob');
      const id = await openUpload(bob, 10);
      await expect(put(bob, id, 0, randomBytes(26))).rejects.toMatchObject({
        status: 507,
        type: 'storage-full',
      });
      expect(
        (await bob.client.http.request<{ present: number[] }>(`/api/files/${id}/upload`)).present,
      ).toEqual([]);
    });

    it('storage unreachable is a 503 problem and the chunk is not recorded', async () => {
      const bob = await personWith(goneServer.url, 'bob');
      const id = await openUpload(bob, 10);
      await expect(put(bob, id, 0, randomBytes(26))).rejects.toMatchObject({
        status: 503,
        type: 'storage-unavailable',
      });
      expect(
        (await bob.client.http.request<{ present: number[] }>(`/api/files/${id}/upload`)).present,
      ).toEqual([]);
    });
  });
});

describe('the VDrive reaper', () => {
  const t = useTestServer(env.overrides);

  it('removes abandoned uploads, stale partials and orphans, and keeps live files', async () => {
    const alice = await personWith(t.server.url, 'alice');
    const kept = await alice.client.drive.upload(new Blob([randomBytes(2 * CHUNK)]), {
      name: 'keep',
      chunkSize: CHUNK,
    });
    const abandoned = await openUpload(alice, 2 * CHUNK);
    await (await put(alice, abandoned, 0, randomBytes(CHUNK + 16))).body?.cancel();
    const abandonedBlob = await chunkPath(t.db.pool, env, abandoned, 0);
    expect(existsSync(abandonedBlob)).toBe(true);
    const orphanName = randomBytes(16).toString('hex');
    const orphan = path.join(env.dir, orphanName.slice(0, 2), orphanName);
    await mkdir(path.dirname(orphan), { recursive: true });
    await writeFile(orphan, randomBytes(10));
    const partial = path.join(
      env.dir,
      '.tmp',
      `${randomBytes(16).toString('hex')}.${randomBytes(6).toString('hex')}`,
    );
    await mkdir(path.dirname(partial), { recursive: true });
    await writeFile(partial, randomBytes(10));
    const old = new Date(Date.now() - 48 * 3_600_000);
    await utimes(orphan, old, old);
    await utimes(partial, old, old);
    await t.db.pool.query(
      `UPDATE files SET updated_at = now() - interval '25 hours' WHERE id = $1`,
      [abandoned],
    );

    const r = await t.server.vutler.services.files.reap();
    expect(r).toMatchObject({ abandoned: 1, purged: 1, orphans: 2 });
    expect(existsSync(abandonedBlob)).toBe(false);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(partial)).toBe(false);
    // Positive control: the live file is intact.
    expect(existsSync(await chunkPath(t.db.pool, env, kept.id, 1))).toBe(true);
    expect((await alice.client.drive.list()).files.map((f) => f.id)).toEqual([kept.id]);
    await expect(alice.client.http.request(`/api/files/${abandoned}`)).rejects.toMatchObject({
      status: 404,
    });
  });
});
