import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewayPublicBundle, generateGatewayKeys } from '../../src/crypto/grants.ts';
import { freePort } from '../../src/embedded.ts';

const BIN = path.resolve('bin/vutler.js');

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return { ...env, LOG_LEVEL: 'info', ...extra };
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitForReady(
  port: number,
  child: ChildProcess,
  timeoutMs: number,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vutler exited early with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.status === 200) return res;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('not ready in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the vutler CLI', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('exits 1 with one clear line for a malformed DATABASE_URL', async () => {
    const { code, stderr } = await run(['serve'], cleanEnv({ DATABASE_URL: 'not a url' }));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^vutler: Invalid configuration: DATABASE_URL must be a postgres:\/\//),
    ]);
  });

  it('prints usage and exits 2 for an unknown command', async () => {
    const { code, stderr } = await run(['fly'], cleanEnv({}));
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command 'fly'/);
  });

  it('prints the gateway fingerprint the Agents page shows, and nothing of the key', async () => {
    const { keys, serialized } = await generateGatewayKeys();
    const { fingerprint } = await gatewayPublicBundle(keys);
    const { code, stdout } = await run(
      ['gateway', 'fingerprint'],
      cleanEnv({ VUTLER_GATEWAY_KEY: serialized }),
    );
    expect(code).toBe(0);
    expect(stdout).toBe(`gateway fingerprint: ${fingerprint}\n`);
    expect(fingerprint).toMatch(/^(\d{5} ){5}\d{5}$/);
    expect(stdout).not.toContain(serialized);
    const bad = await run(['gateway', 'show'], cleanEnv({}));
    expect(bad.code).toBe(2);
  });

  it('migrates DATABASE_URL with `vutler migrate`, idempotently', async () => {
    const { createTestDatabase } = await import('../helpers/db.ts');
    const db = await createTestDatabase({ empty: true });
    try {
      const first = await run(['migrate'], cleanEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' }));
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^\d+ migration\(s\) applied: 0001_phase1_core/);
      const second = await run(
        ['migrate'],
        cleanEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' }),
      );
      expect(second.stdout).toMatch(/^0 migration\(s\) applied; \d+ already applied/);
    } finally {
      await db.drop();
    }
  });

  it('`vutler dev` with no DATABASE_URL serves /ready 200 on embedded PostgreSQL, then stops cleanly', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vutler-dev-'));
    dirs.push(dataDir);
    const port = await freePort();
    // NODE_ENV as a newcomer's `npm start` has it (vitest's own is `test`, which allows throwaway
    // at-rest keys and once hid a worker that could not start outside tests).
    const child = spawn(process.execPath, [BIN, 'dev'], {
      env: cleanEnv({
        VUTLER_DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        NODE_ENV: 'development',
      }),
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    try {
      const started = Date.now();
      const res = await waitForReady(port, child, 30_000);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await res.json()).toMatchObject({ status: 'ready' });
      expect(log).toMatch(/embedded PostgreSQL started/);
      // Serve and every worker run in the one process.
      expect(log).toMatch(/"workers":\["agent-runs","deploys","outbox-relay","audit-sealer"\]/);
      expect(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
      // The generated database password stays in the data dir, never in the log.
      const password = (await readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
      expect(log).not.toContain(password);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    // The embedded server went down with us: its pid file is gone.
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 60_000);
});
