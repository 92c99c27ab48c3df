import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/embedded.ts';

/** The newest PostgreSQL server binaries Debian installed (initdb, pg_ctl). */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin/pg_ctl')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return path.join(root, newest, 'bin');
}

/**
 * A private PostgreSQL cluster (initdb + pg_ctl) on a free port, for tests that restart or kill
 * PostgreSQL (never the shared one). As root, the cluster belongs to the `postgres` user, since
 * initdb refuses to run as root.
 */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly bin: string,
    private readonly owner: { uid: number; gid: number } | undefined,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(tool: string, args: string[]): void {
    const r = spawnSync(path.join(this.bin, tool), args, {
      ...(this.owner ?? {}),
      cwd: this.dir,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout}`);
  }

  static async create(port?: number): Promise<PrivatePostgres> {
    const dir = mkdtempSync(path.join(tmpdir(), 'vutler-pg-'));
    let owner: { uid: number; gid: number } | undefined;
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      owner = { uid, gid };
      chmodSync(dir, 0o700);
      chownSync(dir, uid, gid);
    }
    const pg = new PrivatePostgres(port ?? (await freePort()), dir, binDir(), owner);
    pg.run('initdb', [
      '-D',
      path.join(dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
    ]);
    await pg.start();
    return pg;
  }

  async start(): Promise<void> {
    this.run('pg_ctl', [
      '-D',
      path.join(this.dir, 'data'),
      '-l',
      path.join(this.dir, 'log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ]);
  }

  /** `immediate`: no checkpoint, clients cut off, as a crash would (recovery runs on start). */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
  }

  async destroy(): Promise<void> {
    try {
      await this.stop('immediate');
    } catch {
      // already stopped
    }
  }
}
