import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAllBytes } from '../../src/client/index.ts';
import { startTestServer, testRedis } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { personWith } from '../helpers/vdrive.ts';
import { startWebDav, type TestWebDav } from '../helpers/webdav.ts';

/** `/ready` names blob storage when it cannot be used, and recovers without a restart. */
describe('/ready and blob storage', () => {
  let db: TestDatabase;
  let redis: Redis;
  let scratch: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
    scratch = await mkdtemp(path.join(tmpdir(), 'vutler-ready-'));
  });
  afterAll(async () => {
    redis.disconnect();
    await db.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  async function ready(url: string) {
    const res = await fetch(`${url}/ready`);
    const body = await res.json();
    return { status: res.status, type: res.headers.get('content-type'), body };
  }

  /** A round trip through the SDK: the server serves files again. */
  async function roundTrip(url: string) {
    const alice = await personWith(url, 'alice');
    const content = randomBytes(3000);
    const file = await alice.client.drive.upload(new Blob([content]), {
      name: 'after.bin',
      chunkSize: 1024,
    });
    const back = await readAllBytes(await alice.client.drive.download(file.id));
    expect(Buffer.from(back).equals(content)).toBe(true);
  }

  it('fs: a missing storage directory makes /ready 503 naming storage; it recovers when the directory is back', async () => {
    const dir = path.join(scratch, `blobs-${randomBytes(3).toString('hex')}`);
    const server = await startTestServer(db.pool, redis, { VUTLER_STORAGE_DIR: dir });
    try {
      const ok = await ready(server.url);
      expect(ok.status).toBe(200);
      expect(ok.body.checks.storage.ok).toBe(true);
      await roundTrip(server.url);

      // The NAS mount goes away (here: the directory is moved aside).
      await rename(dir, `${dir}.away`);
      const down = await ready(server.url);
      expect(down.status).toBe(503);
      expect(down.type).toBe('application/problem+json');
      expect(down.body.failed).toEqual(['storage']);
      expect(down.body.detail).toMatch(/storage/);
      expect(down.body.checks.storage).toEqual({
        ok: false,
        error: 'The storage directory is missing.',
      });
      expect(down.body.checks.postgres.ok).toBe(true);
      expect(down.body.checks.redis.ok).toBe(true);
      // The path is configuration, not something an unauthenticated caller learns.
      expect(JSON.stringify(down.body)).not.toContain(dir);
      // It is not recreated as an empty local directory by the check itself.
      expect((await ready(server.url)).status).toBe(503);

      // Meanwhile uploads get a clear 503, not a 500, and the process keeps serving.
      const bob = await personWith(server.url, 'bob');
      const err = await bob.client.drive
        .upload(new Blob([randomBytes(10)]), { name: 'x.bin' })
        .catch((e: unknown) => e as { cause?: { status?: number; type?: string } });
      expect(err).toMatchObject({ cause: { status: 503, type: 'storage-unavailable' } });

      await rename(`${dir}.away`, dir);
      const back = await ready(server.url);
      expect(back.status).toBe(200);
      expect(back.body.checks.storage.ok).toBe(true);
      await roundTrip(server.url);
    } finally {
      await server.close();
    }
  });

  it('fs: a file where the storage directory should be is reported as such', async () => {
    const dir = path.join(scratch, `blobs-${randomBytes(3).toString('hex')}`);
    const server = await startTestServer(db.pool, redis, { VUTLER_STORAGE_DIR: dir });
    try {
      expect((await ready(server.url)).status).toBe(200);
      await rm(dir, { recursive: true });
      await writeFile(dir, 'not a directory');
      const down = await ready(server.url);
      expect(down.status).toBe(503);
      expect(down.body.failed).toEqual(['storage']);
      expect(down.body.checks.storage.error).toBe('The storage path is not a directory.');
      await rm(dir);
      // Back as a directory (the mount returns): ready again.
      await (await import('node:fs/promises')).mkdir(dir);
      expect((await ready(server.url)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  describe('webdav (a real webdav-server on 127.0.0.1)', () => {
    let dav: TestWebDav;
    beforeAll(async () => {
      dav = await startWebDav();
    });
    afterAll(async () => dav.close());

    const davEnv = (password: string) => ({
      VUTLER_STORAGE: 'webdav',
      VUTLER_STORAGE_WEBDAV_URL: dav.url,
      VUTLER_STORAGE_WEBDAV_USERNAME: dav.username,
      VUTLER_STORAGE_WEBDAV_PASSWORD: password,
    });

    it('a stopped WebDAV server makes /ready 503 naming storage; it recovers when the server is back', async () => {
      const server = await startTestServer(db.pool, redis, davEnv(dav.password));
      try {
        expect((await ready(server.url)).body.checks.storage.ok).toBe(true);
        await roundTrip(server.url);

        await dav.stop();
        const down = await ready(server.url);
        expect(down.status).toBe(503);
        expect(down.body.failed).toEqual(['storage']);
        expect(down.body.checks.storage).toEqual({
          ok: false,
          error: 'The WebDAV server cannot be reached.',
        });
        expect(down.body.checks.postgres.ok).toBe(true);
        const bob = await personWith(server.url, 'bob');
        const err = await bob.client.drive
          .upload(new Blob([randomBytes(10)]), { name: 'x.bin' })
          .catch((e: unknown) => e as { cause?: { status?: number } });
        expect(err).toMatchObject({ cause: { status: 503 } });

        await dav.start();
        const back = await ready(server.url);
        expect(back.status).toBe(200);
        expect(back.body.checks.storage.ok).toBe(true);
        await roundTrip(server.url);
      } finally {
        await dav.start();
        await server.close();
      }
    });

    it('a server started while the WebDAV server is down is not ready, then is once it answers', async () => {
      await dav.stop();
      const server = await startTestServer(db.pool, redis, davEnv(dav.password));
      try {
        const down = await ready(server.url);
        expect(down.status).toBe(503);
        expect(down.body.failed).toEqual(['storage']);
        await dav.start();
        expect((await ready(server.url)).status).toBe(200);
        await roundTrip(server.url);
      } finally {
        await dav.start();
        await server.close();
      }
    });

    it('wrong WebDAV credentials are reported as such (and the password is not echoed)', async () => {
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      const server = await startTestServer(db.pool, redis, davEnv(wrong));
      try {
        const down = await ready(server.url);
        expect(down.status).toBe(503);
        expect(down.body.checks.storage.error).toBe('The WebDAV server refused the credentials.');
        expect(JSON.stringify(down.body)).not.toContain(wrong);
      } finally {
        await server.close();
      }
    });
  });
});
