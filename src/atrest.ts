import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';

/**
 * The server's at-rest sealing key: it seals values the server itself must read back but that a
 * database dump alone must not reveal (storage object ids today; GitHub tokens later).
 * It is not a content key — content stays end-to-end encrypted.
 *
 * Sealed form (ASCII, fits a VARCHAR): `<keyId>.<base64url(iv12 ‖ ciphertext ‖ tag16)>`,
 * AES-256-GCM with AAD = "vutler/at-rest/v1" ‖ 0x00 ‖ purpose ‖ 0x00 ‖ context. The key id says
 * which key opens it, so several keys can be loaded: the newest seals, any opens, and rotating
 * means adding a key and re-sealing (`vutler keys rotate-at-rest`).
 */
export class AtRestKeyring {
  private readonly keys: Map<string, Buffer>;
  private readonly newest: string;

  constructor(entries: Array<{ id: string; key: Uint8Array }>) {
    if (entries.length === 0) throw new Error('at-rest keyring needs at least one key');
    this.keys = new Map();
    for (const e of entries) {
      if (!/^[A-Za-z0-9_-]{1,16}$/.test(e.id)) throw new Error('bad at-rest key id');
      if (e.key.length !== 32) throw new Error('at-rest keys are 32 bytes');
      if (this.keys.has(e.id)) throw new Error('duplicate at-rest key id');
      this.keys.set(e.id, Buffer.from(e.key));
    }
    this.newest = entries[entries.length - 1]!.id;
  }

  get currentKeyId(): string {
    return this.newest;
  }

  /** `purpose` and `context` (e.g. "storage-object", file id) bind the value to its row. */
  seal(purpose: string, context: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.newest)!, iv);
    cipher.setAAD(aad(purpose, context));
    const ct = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${this.newest}.${Buffer.concat([iv, ct]).toString('base64url')}`;
  }

  /** Throws `AtRestError` if the value was not sealed by a loaded key for this purpose/context. */
  open(purpose: string, context: string, sealed: string): string {
    const dot = sealed.indexOf('.');
    const key = dot > 0 ? this.keys.get(sealed.slice(0, dot)) : undefined;
    if (!key) throw new AtRestError('sealed with an unknown at-rest key');
    const raw = Buffer.from(sealed.slice(dot + 1), 'base64url');
    if (raw.length < 12 + 16) throw new AtRestError('sealed value is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(aad(purpose, context));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([
        decipher.update(raw.subarray(12, raw.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new AtRestError('sealed value does not open');
    }
  }

  /** Whether a sealed value should be re-sealed with the newest key. */
  isStale(sealed: string): boolean {
    return !sealed.startsWith(`${this.newest}.`);
  }
}

export class AtRestError extends Error {
  override name = 'AtRestError';
}

function aad(purpose: string, context: string): Buffer {
  return Buffer.from(`vutler/at-rest/v1\0${purpose}\0${context}`, 'utf8');
}

const KEY_FILE = 'at-rest.keys';

/**
 * `VUTLER_AT_REST_KEYS` if set, else `dataDir/at-rest.keys` (lines of `id base64`, newest last),
 * created with one key and mode 0600 on first start. Every API node must load the same keys.
 */
export async function loadAtRestKeyring(config: Config): Promise<AtRestKeyring> {
  if (config.atRest.keys) return new AtRestKeyring(config.atRest.keys);
  const file = path.join(config.dataDir, KEY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) return new AtRestKeyring(parseKeyFile(text));
  await mkdir(config.dataDir, { recursive: true });
  const entry = { id: newKeyId(), key: new Uint8Array(randomBytes(32)) };
  // `wx`: two processes starting at once must not each write a different key.
  await writeFile(file, formatKeyFile([entry]), { mode: 0o600, flag: 'wx' }).catch(
    async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    },
  );
  return new AtRestKeyring(parseKeyFile(await readFile(file, 'utf8')));
}

export function newKeyId(): string {
  return `k${Date.now().toString(36)}`;
}

export function parseKeyFile(text: string): Array<{ id: string; key: Uint8Array }> {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [id, b64] = l.split(/\s+/);
      const key = Buffer.from(b64 ?? '', 'base64');
      if (!id || key.length !== 32)
        throw new Error(`${KEY_FILE}: each line is "<id> <base64 of 32 bytes>"`);
      return { id, key: new Uint8Array(key) };
    });
}

export function formatKeyFile(entries: Array<{ id: string; key: Uint8Array }>): string {
  return `# Vutler at-rest sealing keys, newest last. Keep this file private and backed up.\n${entries
    .map((e) => `${e.id} ${Buffer.from(e.key).toString('base64')}`)
    .join('\n')}\n`;
}
