/**
 * A `KeyStore` in a directory, for Node (CLI, tests, agents). One file per key, named by the
 * hex of the key so any key is a safe file name; each write goes to a temporary file that is
 * fsynced and renamed over the old one, so a crash leaves the old value or the new, never half.
 * Node-only: the browser bundle must not import this module.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Json, KeyStore } from './keystore.ts';

const SUFFIX = '.json';

function fileName(key: string): string {
  return Buffer.from(key, 'utf8').toString('hex') + SUFFIX;
}

export class FileKeyStore implements KeyStore {
  private ready: Promise<unknown> | undefined;
  private seq = 0;

  constructor(private readonly dir: string) {}

  private init(): Promise<unknown> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 });
    return this.ready;
  }

  async get(key: string): Promise<Json | undefined> {
    await this.init();
    try {
      return JSON.parse(await readFile(path.join(this.dir, fileName(key)), 'utf8')) as Json;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(key: string, value: Json): Promise<void> {
    await this.init();
    const target = path.join(this.dir, fileName(key));
    const tmp = `${target}.${process.pid}.${++this.seq}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(value));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  }

  async delete(key: string): Promise<void> {
    await this.init();
    await rm(path.join(this.dir, fileName(key)), { force: true });
  }

  async keys(prefix: string): Promise<string[]> {
    await this.init();
    return (await readdir(this.dir))
      .filter((f) => f.endsWith(SUFFIX) && /^[0-9a-f]*$/.test(f.slice(0, -SUFFIX.length)))
      .map((f) => Buffer.from(f.slice(0, -SUFFIX.length), 'hex').toString('utf8'))
      .filter((k) => k.startsWith(prefix));
  }
}
