import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UploadInterruptedError } from '../../src/client/drive-upload.ts';
import { VutlerApiError } from '../../src/client/http.ts';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';

/**
 * The blob store fills up for real: a 4 MiB tmpfs (needs root, as CI and the dev machines run;
 * skipped elsewhere, saying so). An upload then answers 507 — to the client, over a real socket,
 * not as a connection reset mid-body — nothing half-written is left behind or listed as ready,
 * and once space is freed the same upload resumes and new ones go through.
 */
const SIZE = 4 * 1024 * 1024;
const dir = mkdtempSync(path.join(tmpdir(), 'vutler-enospc-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE}`, 'tmpfs', dir], { stdio: 'pipe' });
  mounted = true;
} catch (err) {
  console.warn(`enospc: cannot mount a tmpfs (${(err as Error).message}); skipped`);
}
mkdirSync(path.join(dir, 'blobs'), { recursive: true });
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!mounted)('a full blob store (ENOSPC)', () => {
  const t = useTestServer({
    VUTLER_STORAGE_DIR: path.join(dir, 'blobs'),
    VUTLER_AT_REST_KEYS: `e1:${randomBytes(32).toString('base64')}`,
  });

  it('answers 507, keeps nothing half-written, and works again once space is freed', async () => {
    const carol = await person(t.server.url, 'carol');
    const first = await carol.client.drive.upload(new Blob([randomBytes(64 * 1024)]), {
      name: 'before.bin',
    });
    expect(first.status).toBe('ready');

    const filler = path.join(dir, 'filler');
    expect(() => writeFileSync(filler, Buffer.alloc(SIZE))).toThrow(/ENOSPC/);

    const big = new Uint8Array(randomBytes(512 * 1024));
    let fullId: string | undefined;
    const err = await carol.client.drive
      .upload(new Blob([big]), { name: 'full.bin', onCreated: (id) => (fullId = id) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(UploadInterruptedError);
    const cause = (err as UploadInterruptedError).cause;
    expect(cause, String(cause)).toBeInstanceOf(VutlerApiError);
    expect((cause as VutlerApiError).status).toBe(507);
    expect((cause as VutlerApiError).type).toBe('storage-full');

    // Nothing half-written: not listed as ready, no content, no partial blob left in the store.
    const listed = (await carol.client.drive.list({ limit: 100 })).files;
    expect(listed.find((f) => f.id === fullId)?.status).not.toBe('ready');
    const content = await fetch(`${t.server.url}/api/files/${fullId}/content`, {
      headers: { authorization: `Bearer ${carol.client.session?.token}` },
    });
    expect(content.status).toBe(404);
    const partials = readdirSync(path.join(dir, 'blobs', '.tmp'), { withFileTypes: true });
    expect(partials.filter((e) => e.isFile()).map((e) => e.name)).toEqual([]);
    // The server still serves what it had.
    const back = await carol.client.drive.download(first.id);
    expect((await new Response(back).arrayBuffer()).byteLength).toBe(64 * 1024);

    rmSync(filler);
    const resumed = await carol.client.drive.resume(fullId as string, new Blob([big]));
    expect(resumed.status).toBe('ready');
    const got = new Uint8Array(
      await new Response(await carol.client.drive.download(fullId as string)).arrayBuffer(),
    );
    expect(Buffer.from(got).equals(Buffer.from(big))).toBe(true);
    const after = await carol.client.drive.upload(new Blob([randomBytes(1000)]), {
      name: 'after.bin',
    });
    expect(after.status).toBe('ready');
  });
});
