import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import WebSocket from 'ws';
import { AtRestKeyring } from '../../src/atrest.ts';
import type { FetchLike } from '../../src/client/http.ts';
import { VutlerClient } from '../../src/client/index.ts';
import type { WebSocketConstructor } from '../../src/client/live.ts';
import { chunkBlobName } from '../../src/vdrive/layout.ts';
import { CHEAP_KDF } from './people.ts';

/** A storage directory and known at-rest keys, so tests can find and tamper with chunk blobs. */
export function vdriveEnv() {
  const dir = mkdtempSync(path.join(tmpdir(), 'vutler-vdrive-'));
  const key = randomBytes(32);
  return {
    dir,
    keyring: new AtRestKeyring([{ id: 't1', key: new Uint8Array(key) }]),
    overrides: { VUTLER_STORAGE_DIR: dir, VUTLER_AT_REST_KEYS: `t1:${key.toString('base64')}` },
    /** Removes the storage directory (register with `afterAll`). */
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A person whose client's fetch can be swapped (to cut an upload off half way). */
export async function personWith(baseUrl: string, name: string, fetchImpl?: FetchLike) {
  const client = new VutlerClient({
    baseUrl,
    kdfCost: CHEAP_KDF,
    allowWeakKdf: true,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  const email = `${name}-${randomBytes(5).toString('hex')}@example.com`;
  const { user } = await client.registerWithEncryption({
    email,
    passphrase: `${name} passphrase ${randomBytes(4).toString('hex')}`,
  });
  return { client, user, id: user.id };
}

/** Where chunk `idx` of a file lives on fs storage. */
export async function chunkPath(
  pool: pg.Pool,
  env: ReturnType<typeof vdriveEnv>,
  fileId: string,
  idx: number,
): Promise<string> {
  const { rows } = await pool.query('SELECT synology_path_encrypted FROM files WHERE id = $1', [
    fileId,
  ]);
  const objectId = env.keyring.open('storage-object', fileId, rows[0].synology_path_encrypted);
  const name = chunkBlobName(objectId, idx);
  return path.join(env.dir, name.slice(0, 2), name);
}

export async function swapFiles(a: string, b: string): Promise<void> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  await Promise.all([writeFile(a, y), writeFile(b, x)]);
}

/** A create body for a file of `content.length` bytes, built with the real crypto. */
export async function createBody(client: VutlerClient, content: Uint8Array, CHUNK = 1024) {
  const files = await import('../../src/crypto/files.ts');
  const { base64Encode } = await import('../../src/crypto/bytes.ts');
  const id = crypto.randomUUID();
  const fk = await files.generateFileKey(id);
  const header = files.newFileHeader(id, CHUNK);
  return {
    id,
    encryptedMetadata: base64Encode(
      await files.sealFileMeta(fk, {
        name: 'n',
        type: 't',
        size: content.length,
        createdAt: null,
        modifiedAt: null,
      }),
    ),
    fileKeyEncrypted: base64Encode(await files.wrapFileKey(client.masterKey!, fk)),
    header: base64Encode(files.encodeFileHeader(header)),
    chunkSize: CHUNK,
    chunkCount: Math.max(1, Math.ceil(content.length / CHUNK)),
    ciphertextSize: files.encryptedFileSize(id, content.length, CHUNK),
  };
}
