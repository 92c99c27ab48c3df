import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAllBytes, textPreview } from '../../src/client/index.ts';
import { decodeFileHeader } from '../../src/crypto/files.ts';
import { useTestServer } from '../helpers/app.ts';
import { captureClientSecrets, findSecrets, type Needle } from '../helpers/canary.ts';
import { personWith, vdriveEnv } from '../helpers/vdrive.ts';

const env = vdriveEnv();
afterAll(() => env.cleanup());

/** Every byte on storage (final objects and partials), file by file. */
async function storageBytes(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const d of await readdir(dir)) {
    const sub = path.join(dir, d);
    for (const f of await readdir(sub).catch(() => [] as string[]))
      out.push(await readFile(path.join(sub, f)));
  }
  return out;
}

function onStorage(blobs: Buffer[], needle: Needle): boolean {
  const forms =
    typeof needle.value === 'string'
      ? [Buffer.from(needle.value), Buffer.from(Buffer.from(needle.value).toString('base64'))]
      : [Buffer.from(needle.value)];
  return blobs.some((b) => forms.some((f) => b.includes(f)));
}

describe('VDrive leaves no plaintext and no key on storage, in PostgreSQL or in Redis', () => {
  const t = useTestServer(env.overrides);

  it('after an upload, a share, its preview and download: a canary name and content are nowhere', async () => {
    const tag = randomBytes(6).toString('hex');
    const canaryName = `CANARY-NAME-${tag}.txt`;
    const canaryText = `CANARY-CONTENT-${tag} `.repeat(400);
    const capture = captureClientSecrets();
    let fileId: string;
    try {
      const [alice, bob] = await Promise.all([
        personWith(t.server.url, 'alice'),
        personWith(t.server.url, 'bob'),
      ]);
      const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
      const file = await alice.client.drive.upload(new Blob([canaryText]), {
        name: canaryName,
        type: 'text/plain',
        chunkSize: 1024,
        preview: textPreview(canaryText, 1, 200),
      });
      fileId = file.id;
      const { share } = await alice.client.drive.share(file.id, chat.id, {
        mode: 'download',
        text: `see ${canaryName}`,
      });
      const opened = await bob.client.drive.openShare(share.id);
      expect(opened.meta.name).toBe(canaryName);
      expect(new TextDecoder().decode(await readAllBytes(await opened.download()))).toBe(
        canaryText,
      );
      expect(new TextDecoder().decode((await opened.preview())!)).toContain(
        `CANARY-CONTENT-${tag}`,
      );
    } finally {
      capture.restore();
    }
    // The file header's 32-byte salt is public by design; every other 32-byte random (FK, chat
    // keys, master keys) must be absent.
    const { rows } = await t.db.pool.query('SELECT file_header FROM files WHERE id = $1', [fileId]);
    const salt = Buffer.from(decodeFileHeader(rows[0].file_header).header.salt).toString('hex');
    const keys = capture.needles.filter(
      (n) => !(n.value instanceof Uint8Array && Buffer.from(n.value).toString('hex') === salt),
    );
    expect(keys.length).toBeGreaterThan(3);
    const needles: Needle[] = [
      ...keys,
      { label: 'canary name', value: canaryName },
      { label: 'canary content', value: `CANARY-CONTENT-${tag}` },
    ];
    expect(await findSecrets(t.db.pool, t.redis, needles)).toEqual([]);
    const blobs = await storageBytes(env.dir);
    expect(blobs.length).toBeGreaterThan(3);
    expect(needles.filter((n) => onStorage(blobs, n)).map((n) => n.label)).toEqual([]);
    // Storage names reveal nothing either: no file id, no name, just random-looking hex.
    for (const d of await readdir(env.dir)) {
      for (const f of await readdir(path.join(env.dir, d))) expect(f).toMatch(/^[0-9a-f]{32}$/);
    }

    // Positive controls: each scan finds a canary that is really there.
    const leakDir = path.join(env.dir, 'ff');
    await mkdir(leakDir, { recursive: true });
    await writeFile(path.join(leakDir, 'f'.repeat(32)), `oops ${canaryName}`);
    expect(onStorage(await storageBytes(env.dir), needles.at(-2)!)).toBe(true);
    const key = `vdrive-canary-probe:${tag}`;
    await t.redis.set(key, `CANARY-CONTENT-${tag}`);
    try {
      expect(await findSecrets(t.db.pool, t.redis, [needles.at(-1)!])).toEqual(['canary content']);
    } finally {
      await t.redis.del(key);
    }
    await t.db.pool.query('CREATE TABLE leak_probe (b bytea)');
    await t.db.pool.query('INSERT INTO leak_probe VALUES ($1)', [
      Buffer.from(keys[0]!.value as Uint8Array),
    ]);
    expect(await findSecrets(t.db.pool, t.redis, [keys[0]!])).toEqual([keys[0]!.label]);
    await t.db.pool.query('DROP TABLE leak_probe');
  });
});
