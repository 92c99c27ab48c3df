import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AtRestError,
  type AtRestKeyring,
  formatKeyFile,
  loadAtRestKeyring,
  newKeyId,
  parseKeyFile,
} from '../atrest.ts';
import type { Config } from '../config.ts';

/**
 * Sealing of server-held GitHub secrets (tokens, webhook secrets) at rest: the one seam between
 * the connector and the server's shared at-rest keyring (`src/atrest.ts`). Envelopes are the
 * keyring's ASCII form stored as bytes, so they carry their key id.
 */
export interface AtRestSealer {
  readonly currentKeyId: string;
  seal(plaintext: Uint8Array, aad: string): Uint8Array;
  open(envelope: Uint8Array, aad: string): Uint8Array;
  keyIdOf(envelope: Uint8Array): string;
}

export class SealError extends Error {
  override name = 'SealError';
}

const PURPOSE = 'github';

/** The shared keyring behind `AtRestSealer`. */
export class KeyringSealer implements AtRestSealer {
  constructor(private readonly ring: AtRestKeyring) {}

  get currentKeyId(): string {
    return this.ring.currentKeyId;
  }

  seal(plaintext: Uint8Array, aad: string): Uint8Array {
    const sealed = this.ring.seal(PURPOSE, aad, Buffer.from(plaintext).toString('base64'));
    return new Uint8Array(Buffer.from(sealed, 'ascii'));
  }

  keyIdOf(envelope: Uint8Array): string {
    const s = Buffer.from(envelope).toString('ascii');
    const dot = s.indexOf('.');
    if (dot <= 0) throw new SealError('not a sealed envelope');
    return s.slice(0, dot);
  }

  open(envelope: Uint8Array, aad: string): Uint8Array {
    try {
      const b64 = this.ring.open(PURPOSE, aad, Buffer.from(envelope).toString('ascii'));
      return new Uint8Array(Buffer.from(b64, 'base64'));
    } catch (err) {
      if (err instanceof AtRestError) throw new SealError(err.message);
      throw err;
    }
  }
}

/** `VUTLER_AT_REST_KEYS`, else the data dir's key file (created on first use). */
export async function loadGithubSealer(config: Config): Promise<KeyringSealer> {
  return new KeyringSealer(await loadAtRestKeyring(config));
}

/** Appends a fresh key to the data dir's key file (it becomes current); returns its id. */
export async function addAtRestKey(config: Config): Promise<string> {
  if (config.atRest.keys)
    throw new SealError('VUTLER_AT_REST_KEYS is set: add the new key there (newest last)');
  await loadAtRestKeyring(config); // creates the file if needed
  const file = path.join(config.dataDir, 'at-rest.keys');
  const entries = parseKeyFile(await readFile(file, 'utf8'));
  let id = newKeyId();
  if (entries.some((e) => e.id === id)) id = `${id}${randomBytes(2).toString('hex')}`.slice(0, 16);
  entries.push({ id, key: new Uint8Array(randomBytes(32)) });
  await writeFile(file, formatKeyFile(entries), { mode: 0o600 });
  return id;
}
