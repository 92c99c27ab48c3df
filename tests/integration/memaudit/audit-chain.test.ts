import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyAuditExport } from '../../../src/audit/export.ts';
import { parseGatewayKeys } from '../../../src/crypto/grants.ts';
import { startAuditSealer } from '../../../src/workers/audit-sealer.ts';
import { silentLogger, testConfig, useTestServer } from '../../helpers/app.ts';
import { TEST_REDIS_URL } from '../../helpers/env.ts';
import { gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const BIN = path.resolve('bin/vutler.js');
const keyLine = await gatewayKeyLine();
const gatewayPublic = (await parseGatewayKeys(keyLine)).ed25519.publicKey;

function verifyCli(dbUrl: string, args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env = {
      ...process.env,
      DATABASE_URL: dbUrl,
      VUTLER_GATEWAY_KEY: keyLine,
      LOG_LEVEL: 'silent',
    };
    const child = spawn(process.execPath, [BIN, 'audit', 'verify', ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

type Entry = { id: string; chain: string };

/** Polls an async condition (the sealer runs in its own loop). */
async function eventually(pred: () => Promise<boolean>, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('audit hash chain', () => {
  const ctx = useTestServer({ VUTLER_GATEWAY_KEY: keyLine });

  async function aliceWithAudit(calls: number) {
    const { url } = ctx.server;
    const alice = await person(url, 'alice');
    const bob = await person(url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'hello');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantChat(chat.id, 'claude');
    const mcp = await mcpClient(url, token);
    for (let i = 0; i < calls; i++)
      await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    await mcp.close();
    return alice;
  }

  const entries = async (alice: Awaited<ReturnType<typeof aliceWithAudit>>) =>
    (await alice.client.agents.audit({ limit: 200 })).entries as Entry[];

  it('seals rows in the worker, verifies with the CLI and offline, and names an edited row', async () => {
    const alice = await aliceWithAudit(6);
    const before = await entries(alice);
    expect(before).toHaveLength(6);
    expect(before.every((e) => e.chain === 'pending')).toBe(true);

    // A real `vutler worker` process seals them.
    const worker = spawn(process.execPath, [BIN, 'worker'], {
      env: {
        ...process.env,
        DATABASE_URL: ctx.db.url,
        REDIS_URL: TEST_REDIS_URL,
        VUTLER_REDIS_PREFIX: `t${randomBytes(6).toString('hex')}`,
        VUTLER_GATEWAY_KEY: keyLine,
        VUTLER_AUDIT_SEAL_INTERVAL_MS: '100',
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    try {
      await eventually(
        async () => (await entries(alice)).every((e) => e.chain === 'sealed'),
        'the worker sealing the rows',
        30_000,
      );
    } finally {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }

    const ok = await verifyCli(ctx.db.url, ['--user', alice.id]);
    expect(ok.stdout).toContain(`user ${alice.id}: ok, 6 linked row(s), sealed through #5`);
    expect(ok.code).toBe(0);

    const exportText = async () => {
      const res = await fetch(`${ctx.server.url}/api/audit/export`, {
        headers: { authorization: `Bearer ${alice.client.session?.token}` },
      });
      expect(res.headers.get('content-type')).toContain('application/x-ndjson');
      return res.text();
    };
    const good = await verifyAuditExport(await exportText(), gatewayPublic);
    expect(good.ok).toBe(true);
    // The SDK verifies the same export against the gateway key the device pinned.
    expect(await alice.client.audit.verify()).toMatchObject({
      ok: true,
      rows: 6,
      sealedThrough: 5,
    });
    expect(good.rows).toBe(6);
    expect(good.sealedThrough).toBe(5);

    // Someone with database access rewrites one row of history.
    const victim = before[2]!;
    await ctx.db.pool.query(
      "UPDATE decryption_audit_log SET outcome = 'denied', reason = 'no-permission' WHERE id = $1",
      [victim.id],
    );
    const bad = await verifyCli(ctx.db.url, ['--user', alice.id]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`BROKEN at row ${victim.id}`);
    expect(bad.stdout).toContain('row-edited');

    const states = new Map((await entries(alice)).map((e) => [e.id, e.chain]));
    expect(states.get(victim.id)).toBe('broken');
    expect([...states.values()].filter((s) => s === 'broken')).toHaveLength(1);

    const offline = await verifyAuditExport(await exportText(), gatewayPublic);
    expect(offline.ok).toBe(false);
    expect(offline.firstBreak?.rowId).toBe(victim.id);
    expect((await alice.client.audit.verify()).firstBreak?.rowId).toBe(victim.id);
  });

  it('catches a row whose hash was recomputed, a deleted row, and a forged checkpoint', async () => {
    const alice = await aliceWithAudit(4);
    // Only the sealer: the other workers (relay, agent runs) are not part of this test.
    const workers = [
      await startAuditSealer({
        config: testConfig({ VUTLER_GATEWAY_KEY: keyLine, VUTLER_AUDIT_SEAL_INTERVAL_MS: '50' }),
        logger: silentLogger,
        pool: ctx.db.pool,
      }),
    ];
    try {
      await eventually(
        async () => (await entries(alice)).every((e) => e.chain === 'sealed'),
        'sealing',
      );
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
    const { rows } = await ctx.db.pool.query<{ id: string; chain_index: string }>(
      'SELECT id, chain_index FROM decryption_audit_log WHERE user_id = $1 ORDER BY chain_index',
      [alice.id],
    );
    // Rewrite a row and recompute its hash: the next row's link no longer matches.
    const { rowHash } = await import('../../../src/audit/chain.ts');
    const { ChainRepository } = await import('../../../src/audit/chain.repository.ts');
    const [row1] = await new ChainRepository(ctx.db.pool).byIds(alice.id, [rows[1]!.id]);
    const rewritten = { ...row1!, agentName: 'someone-else' };
    await ctx.db.pool.query(
      'UPDATE decryption_audit_log SET agent_name = $2, row_hash = $3 WHERE id = $1',
      [row1!.id, 'someone-else', Buffer.from(await rowHash(rewritten, 1, row1!.prevHash!))],
    );
    const relinked = await verifyCli(ctx.db.url, ['--user', alice.id]);
    expect(relinked.code).toBe(1);
    expect(relinked.stdout).toContain(`BROKEN at row ${row1!.id}`);
    expect(relinked.stdout).toContain('broken-link');
    await ctx.db.pool.query(
      'UPDATE decryption_audit_log SET agent_name = $2, row_hash = $3 WHERE id = $1',
      [row1!.id, 'claude', Buffer.from(row1!.rowHash!)],
    );
    expect((await verifyCli(ctx.db.url, ['--user', alice.id])).code).toBe(0);

    // Delete the last row: the signed checkpoint still commits to it.
    await ctx.db.pool.query('DELETE FROM decryption_audit_log WHERE id = $1', [rows[3]!.id]);
    const gone = await verifyCli(ctx.db.url, ['--user', alice.id]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toContain('missing-row');

    // A checkpoint signed by someone else's key is not the gateway's.
    const other = await parseGatewayKeys(await gatewayKeyLine());
    const { signCheckpoint } = await import('../../../src/audit/chain.ts');
    const head = await ctx.db.pool.query<{ row_hash: Buffer }>(
      'SELECT row_hash FROM decryption_audit_log WHERE id = $1',
      [rows[2]!.id],
    );
    await ctx.db.pool.query('DELETE FROM audit_checkpoints WHERE user_id = $1', [alice.id]);
    await ctx.db.pool.query(
      `INSERT INTO audit_checkpoints (user_id, chain_index, head_hash, gateway_public, signature)
       VALUES ($1, 2, $2, $3, $4)`,
      [
        alice.id,
        head.rows[0]!.row_hash,
        Buffer.from(other.ed25519.publicKey),
        Buffer.from(
          await signCheckpoint(other.ed25519.privateKey, alice.id, 2, head.rows[0]!.row_hash),
        ),
      ],
    );
    const forged = await verifyCli(ctx.db.url, ['--user', alice.id]);
    expect(forged.code).toBe(1);
    expect(forged.stdout).toContain(`BROKEN at row ${rows[0]!.id}`);
    expect(forged.stdout).toContain('bad-signature');
  });

  it('shows sealed rows across several checkpoints and new rows as pending', async () => {
    const { AuditSealer } = await import('../../../src/audit/chain.service.ts');
    const sealer = new AuditSealer(ctx.db.pool, await parseGatewayKeys(keyLine), silentLogger);
    const alice = await aliceWithAudit(3);
    expect(await sealer.sealOnce()).toBeGreaterThanOrEqual(3);
    const mcp = await mcpClient(
      ctx.server.url,
      (await alice.client.createAgentToken({ agentName: 'claude' })).token,
    );
    for (let i = 0; i < 2; i++) await mcp.callTool({ name: 'list_chats', arguments: {} });
    await sealer.sealOnce();
    await mcp.callTool({ name: 'list_chats', arguments: {} });
    const states = (await entries(alice)).map((e) => e.chain);
    expect(states).toEqual(['pending', 'sealed', 'sealed', 'sealed', 'sealed', 'sealed']);
    const cps = await ctx.db.pool.query('SELECT 1 FROM audit_checkpoints WHERE user_id = $1', [
      alice.id,
    ]);
    expect(cps.rowCount).toBe(2);
    await mcp.close();
  });

  it('refuses bad CLI arguments with exit 2', async () => {
    const r = await verifyCli(ctx.db.url, ['--user', 'not-a-uuid']);
    expect(r.code).toBe(2);
  });
});
