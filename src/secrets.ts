import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';

/** Server-side secrets that are not content keys: HMAC keys for fake salts and CSRF tokens. */
export interface ServerSecrets {
  /** 32 bytes. All API nodes must share it, so fake KDF salts are stable across nodes. */
  serverKey: Uint8Array;
}

/**
 * `VUTLER_SERVER_SECRET` if set (base64, 32+ bytes), else a file in the data dir created on first
 * start with mode 0600.
 */
export async function loadServerSecrets(config: Config): Promise<ServerSecrets> {
  if (config.secrets.serverSecret) return { serverKey: config.secrets.serverSecret };
  const file = path.join(config.dataDir, 'server.secret');
  try {
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length >= 32) return { serverKey: new Uint8Array(key) };
  } catch {
    // created below
  }
  await mkdir(config.dataDir, { recursive: true });
  const key = randomBytes(32);
  await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  return { serverKey: new Uint8Array(key) };
}
