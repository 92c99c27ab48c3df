import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';

/**
 * Sealing of server-held secrets (GitHub tokens, webhook secrets) at rest. The one seam the
 * shared at-rest keyring (vdrive branch) can replace: anything with `seal`/`open` and key ids.
 */
export interface AtRestSealer {
  /** The id of the key new envelopes are sealed with. */
  readonly currentKeyId: string;
  seal(plaintext: Uint8Array, aad: string): Uint8Array;
  open(envelope: Uint8Array, aad: string): Uint8Array;
  /** The key id an envelope was sealed with (without opening it). */
  keyIdOf(envelope: Uint8Array): string;
}

export class SealError extends Error {
  override name = 'SealError';
}

const VERSION = 1;
const AAD_LABEL = 'vutler/v1/at-rest/';

/**
 * AES-256-GCM keyring: envelope = u8 version ‖ u8 len ‖ key id ‖ iv12 ‖ ciphertext ‖ tag16. The
 * AAD binds each envelope to its column and row, so a sealed token copied to another row fails.
 */
export class AesKeyring implements AtRestSealer {
  private readonly keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  constructor(keys: Array<{ id: string; key: Uint8Array }>) {
    const last = keys.at(-1);
    if (!last) throw new SealError('at-rest keyring is empty');
    for (const k of keys)
      if (k.key.length !== 32) throw new SealError(`at-rest key ${k.id} is not 32 bytes`);
    this.keys = new Map(keys.map((k) => [k.id, Buffer.from(k.key)]));
    this.currentKeyId = last.id;
  }

  seal(plaintext: Uint8Array, aad: string): Uint8Array {
    const key = this.keys.get(this.currentKeyId) as Buffer;
    const id = Buffer.from(this.currentKeyId, 'utf8');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(AAD_LABEL + aad, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return new Uint8Array(
      Buffer.concat([Buffer.from([VERSION, id.length]), id, iv, ct, c.getAuthTag()]),
    );
  }

  keyIdOf(envelope: Uint8Array): string {
    const b = Buffer.from(envelope);
    if (b.length < 2 || b[0] !== VERSION) throw new SealError('not a sealed envelope');
    const len = b[1] as number;
    if (b.length < 2 + len + 12 + 16) throw new SealError('truncated sealed envelope');
    return b.subarray(2, 2 + len).toString('utf8');
  }

  open(envelope: Uint8Array, aad: string): Uint8Array {
    const id = this.keyIdOf(envelope);
    const key = this.keys.get(id);
    if (!key) throw new SealError(`no at-rest key "${id}" in the keyring`);
    const b = Buffer.from(envelope);
    const start = 2 + Buffer.byteLength(id, 'utf8');
    const iv = b.subarray(start, start + 12);
    const tag = b.subarray(b.length - 16);
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(AAD_LABEL + aad, 'utf8'));
    d.setAuthTag(tag);
    try {
      return new Uint8Array(
        Buffer.concat([d.update(b.subarray(start + 12, b.length - 16)), d.final()]),
      );
    } catch {
      throw new SealError('sealed envelope does not open (wrong key, row or column)');
    }
  }
}

function parseKeys(line: string): Array<{ id: string; key: Uint8Array }> {
  return line
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const [id, b64] = p.split(':') as [string, string];
      return { id, key: new Uint8Array(Buffer.from(b64, 'base64')) };
    });
}

export function keyringFile(config: Config): string {
  return path.join(config.dataDir, 'at-rest.keys');
}

/** `VUTLER_AT_REST_KEYS`, else the data dir's key file (created with one key on first use). */
export async function loadAtRestKeyring(config: Config): Promise<AesKeyring> {
  if (config.atRest.keys) return new AesKeyring(parseKeys(config.atRest.keys));
  const file = keyringFile(config);
  try {
    return new AesKeyring(parseKeys((await readFile(file, 'utf8')).trim()));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true });
  const line = `k${Date.now().toString(36)}:${randomBytes(32).toString('base64')}`;
  await writeFile(file, `${line}\n`, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
  return new AesKeyring(parseKeys((await readFile(file, 'utf8')).trim()));
}

/** Appends a fresh key to the key file (it becomes current); returns its id. */
export async function addAtRestKey(config: Config): Promise<string> {
  if (config.atRest.keys)
    throw new SealError('VUTLER_AT_REST_KEYS is set: add the new key there (newest last)');
  await loadAtRestKeyring(config); // creates the file if needed
  const file = keyringFile(config);
  const id = `k${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const current = (await readFile(file, 'utf8')).trim();
  await writeFile(file, `${current},${id}:${randomBytes(32).toString('base64')}\n`, {
    mode: 0o600,
  });
  return id;
}
