import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GithubRepository } from '../../../src/github/github.repository.ts';
import { loadGithubSealer as loadAtRestKeyring } from '../../../src/github/sealing.ts';
import { IntegrationSecrets } from '../../../src/github/secrets.ts';
import { testConfig } from '../../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';

const run = promisify(execFile);

describe('vutler keys rotate-at-rest', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-rotate-'));
  });
  afterAll(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('adds a key and re-seals every GitHub secret with it; they still open', async () => {
    const config = testConfig({ VUTLER_DATA_DIR: dir });
    const before = await loadAtRestKeyring(config);
    const secrets = new IntegrationSecrets(before);
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO users (email) VALUES ('rot@example.com') RETURNING id`,
    );
    const userId = rows[0]?.id as string;
    const repo = new GithubRepository(db.pool);
    await repo.upsertIntegration({
      userId,
      githubUserId: 7,
      login: 'o',
      kind: 'token',
      access: secrets.seal('access_token_encrypted', userId, 7, 'ghp_rotate_me_please_123'),
      refresh: null,
      secret: secrets.seal('webhook_secret_encrypted', userId, 7, 'hook-secret-rotate'),
      scopes: [],
    });
    const { stdout } = await run(process.execPath, ['bin/vutler.js', 'keys', 'rotate-at-rest'], {
      env: { ...process.env, DATABASE_URL: db.url, VUTLER_DATA_DIR: dir, LOG_LEVEL: 'silent' },
    });
    expect(stdout).toMatch(/2 sealed value\(s\) re-sealed/);
    const after = await loadAtRestKeyring(config);
    expect(after.currentKeyId).not.toBe(before.currentKeyId);
    const [row] = await repo.integrationsOf(userId);
    expect(after.keyIdOf(row?.access_token_encrypted as Buffer)).toBe(after.currentKeyId);
    const reopened = new IntegrationSecrets(after);
    expect(reopened.token(row as never)).toBe('ghp_rotate_me_please_123');
    expect(reopened.open(row as never, 'webhook_secret_encrypted')).toBe('hook-secret-rotate');
  });
});
