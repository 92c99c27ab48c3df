import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/embedded.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A `vutler <command>` child process; its stdout/stderr are kept for canary scans and failures. */
export class VutlerProcess {
  child: ChildProcess | undefined;
  output = '';

  constructor(
    readonly command: 'serve' | 'worker',
    readonly env: Record<string, string>,
    readonly port?: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `waitFor: 'health'` for a node that cannot finish starting (its services are down). */
  async start(waitFor: 'log' | 'health' = 'log'): Promise<void> {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/vutler.js'), this.command], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        ...(this.port !== undefined ? { PORT: String(this.port) } : {}),
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d) => {
      this.output += d.toString();
    });
    child.stderr?.on('data', (d) => {
      this.output += d.toString();
    });
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    child.once('exit', () => process.off('exit', reap));
    await this.waitUntilUp(waitFor);
  }

  private async waitUntilUp(waitFor: 'log' | 'health'): Promise<void> {
    const deadline = Date.now() + 60_000;
    const marker = this.command === 'serve' ? 'vutler listening' : 'worker';
    const up = async () =>
      waitFor === 'log'
        ? this.output.includes(marker)
        : fetch(`${this.url}/health`).then(
            (r) => r.ok,
            () => false,
          );
    while (!(await up())) {
      if (this.child?.exitCode !== null)
        throw new Error(`vutler ${this.command} exited:\n${this.output}`);
      if (Date.now() > deadline)
        throw new Error(`vutler ${this.command} did not start:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** `kill -9`: no shutdown hooks, as a crash or an OOM kill would. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}

/** Environment every node of one cluster shares (one server secret, one key prefix). */
export function clusterEnv(dbUrl: string, redisUrl: string, extra: Record<string, string> = {}) {
  return {
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    VUTLER_REDIS_PREFIX: `c${randomBytes(6).toString('hex')}`,
    VUTLER_SERVER_SECRET: randomBytes(32).toString('base64'),
    VUTLER_TRUST_PROXY: 'true',
    VUTLER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'vutler-node-')),
    ...extra,
  };
}

export async function startServeNodes(n: number, env: Record<string, string>) {
  const nodes: VutlerProcess[] = [];
  for (let i = 0; i < n; i++) nodes.push(new VutlerProcess('serve', env, await freePort()));
  // One at a time: the first applies migrations, the others find them applied.
  for (const node of nodes) await node.start();
  return nodes;
}

/**
 * Debian's nginx running `deploy/nginx.conf` itself, with only the lines marked `# test:`
 * rewritten: its listen port, the upstream nodes, and pid/log/temp paths in a private directory.
 */
export class Nginx {
  child: ChildProcess | undefined;
  output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static render(conf: string, port: number, upstreams: number[], dir: string): string {
    let upstreamDone = false;
    return conf
      .split('\n')
      .flatMap((line) => {
        const m = /^(\s*)(.*?)\s*# test: (\S+)\s*$/.exec(line);
        if (!m) return [line];
        const [, indent, , what] = m;
        switch (what) {
          case 'pid':
            return [`${indent}pid ${dir}/nginx.pid;`];
          case 'error_log':
            return [`${indent}error_log ${dir}/error.log warn;`];
          case 'access_log':
            return [`${indent}access_log ${dir}/access.log;`];
          case 'listen':
            return [`${indent}listen 127.0.0.1:${port};`];
          case 'upstream':
            if (upstreamDone) return [];
            upstreamDone = true;
            return upstreams.map(
              (p) => `${indent}server 127.0.0.1:${p} max_fails=2 fail_timeout=5s;`,
            );
          default:
            if (what?.endsWith('_temp_path')) return [`${indent}${what} ${dir}/${what};`];
            throw new Error(`deploy/nginx.conf: unknown test marker ${what}`);
        }
      })
      .join('\n');
  }

  static async start(upstreams: number[]): Promise<Nginx> {
    const dir = mkdtempSync(path.join(tmpdir(), 'vutler-nginx-'));
    mkdirSync(dir, { recursive: true });
    const ng = new Nginx(await freePort(), dir);
    const conf = readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8');
    const confPath = path.join(dir, 'nginx.conf');
    writeFileSync(confPath, Nginx.render(conf, ng.port, upstreams, dir));
    // As root, nginx's workers would drop to `nobody`, who cannot write our private temp dir.
    const globals = ['daemon off;', ...(process.getuid?.() === 0 ? ['user root;'] : [])];
    const bin = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
    const child = spawn(bin, ['-p', dir, '-c', confPath, '-g', globals.join(' ')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ng.child = child;
    child.stderr?.on('data', (d) => {
      ng.output += d.toString();
    });
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    child.once('exit', () => process.off('exit', reap));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${ng.output}`);
      const up = await fetch(`${ng.url}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (up) return ng;
      if (Date.now() > deadline) throw new Error(`nginx did not start: ${ng.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}
