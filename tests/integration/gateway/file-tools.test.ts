import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { createGrant } from '../../../src/crypto/grants.ts';
import { loadGatewayKeys } from '../../../src/gateway/keys.ts';
import type { PermissionConditions } from '../../../src/gateway/types.ts';
import { createLogger } from '../../../src/log.ts';
import { serveApp, testConfig, testRedis, useTestServer } from '../../helpers/app.ts';
import { findSecrets } from '../../helpers/canary.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';
import { vdriveEnv } from '../../helpers/vdrive.ts';

const key = await gatewayKeyLine();
const env = vdriveEnv();
afterAll(() => env.cleanup());

type Tool = 'list_files' | 'file_info' | 'read_file';
const TOOLS: Tool[] = ['list_files', 'file_info', 'read_file'];
/** 'ok'; 'hidden' (list_files succeeds without the file); or the refusal code. */
type Outcome = string;

interface Case {
  name: string;
  level?: 'denied' | 'metadata' | 'decrypt_ephemeral';
  conditions?: (now: Date) => PermissionConditions;
  grant?: 'valid' | 'none' | 'bad-signature' | 'foreign-signature' | 'expired' | 'revoked';
  target?: 'own' | 'foreign' | 'missing';
  limit?: number;
  expect: Record<Tool, Outcome>;
  /** list_files's audit row for the file: none, or denied with this reason. */
  listDenied?: string;
}

const h = new Date().getUTCHours();
const ALL = (o: string) => ({ list_files: o, file_info: o, read_file: o });

const CASES: Case[] = [
  { name: 'granted', level: 'decrypt_ephemeral', expect: ALL('ok') },
  { name: 'no permission row', expect: ALL('no-permission') },
  { name: 'level denied', level: 'denied', expect: ALL('no-permission') },
  {
    name: 'level metadata',
    level: 'metadata',
    expect: { list_files: 'ok', file_info: 'ok', read_file: 'insufficient-level' },
  },
  {
    name: 'permission expired',
    level: 'decrypt_ephemeral',
    conditions: (now) => ({ expires_at: new Date(now.getTime() - 60_000).toISOString() }),
    expect: ALL('expired'),
  },
  {
    name: 'outside the UTC hours',
    level: 'decrypt_ephemeral',
    conditions: () => ({ hours: { start: (h + 1) % 24, end: (h + 2) % 24 } }),
    expect: ALL('outside-hours'),
  },
  {
    name: 'file not in resource_ids',
    level: 'decrypt_ephemeral',
    conditions: () => ({ resource_ids: ['0190d5c2-0000-7000-8000-000000000099'] }),
    expect: { list_files: 'hidden', file_info: 'not-found', read_file: 'not-found' },
  },
  {
    name: 'over max_items_per_call',
    level: 'decrypt_ephemeral',
    conditions: () => ({ max_items_per_call: 1 }),
    limit: 2,
    expect: { list_files: 'over-max-items', file_info: 'ok', read_file: 'ok' },
  },
  {
    name: 'no grant',
    level: 'decrypt_ephemeral',
    grant: 'none',
    expect: { list_files: 'hidden', file_info: 'no-grant', read_file: 'no-grant' },
  },
  {
    name: 'grant with a bad signature',
    level: 'decrypt_ephemeral',
    grant: 'bad-signature',
    expect: { list_files: 'hidden', file_info: 'bad-grant', read_file: 'bad-grant' },
    listDenied: 'bad-grant',
  },
  {
    name: 'grant signed by someone else',
    level: 'decrypt_ephemeral',
    grant: 'foreign-signature',
    expect: { list_files: 'hidden', file_info: 'bad-grant', read_file: 'bad-grant' },
    listDenied: 'bad-grant',
  },
  {
    name: 'grant expired (signed by the owner with an expiry now past)',
    level: 'decrypt_ephemeral',
    grant: 'expired',
    expect: { list_files: 'hidden', file_info: 'grant-expired', read_file: 'grant-expired' },
    listDenied: 'grant-expired',
  },
  {
    name: 'revoked grant',
    level: 'decrypt_ephemeral',
    grant: 'revoked',
    expect: { list_files: 'hidden', file_info: 'no-grant', read_file: 'no-grant' },
  },
  {
    name: 'another user’s file',
    level: 'decrypt_ephemeral',
    target: 'foreign',
    expect: { list_files: 'ok', file_info: 'not-found', read_file: 'not-found' },
  },
  {
    name: 'a file that does not exist',
    level: 'decrypt_ephemeral',
    target: 'missing',
    expect: { list_files: 'ok', file_info: 'not-found', read_file: 'not-found' },
  },
];

const MISSING = '0190d5c2-0000-7000-8000-0000000000aa';

describe('the file tools’ permission matrix: tool × level × conditions × grant', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key, ...env.overrides });
  let alice: Awaited<ReturnType<typeof person>>;
  let bob: Awaited<ReturnType<typeof person>>;
  let own: string;
  let foreign: string;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([person(t.server.url, 'alice'), person(t.server.url, 'bob')]);
    own = (
      await alice.client.drive.upload(new Blob(['file needle: the plan']), {
        name: 'plan.txt',
        type: 'text/plain',
      })
    ).id;
    foreign = (
      await bob.client.drive.upload(new Blob(['file needle foreign']), {
        name: 'bob.txt',
        type: 'text/plain',
      })
    ).id;
  });

  async function setUp(c: Case, agentName: string) {
    const { token } = await alice.client.createAgentToken({ agentName });
    if (c.level) {
      await alice.client.agents.setPermission({
        agentName,
        resourceType: 'files',
        accessLevel: c.level,
        conditions: c.conditions?.(new Date()) ?? {},
      });
    }
    const grant = c.grant ?? 'valid';
    if (grant === 'none') return token;
    const g = await alice.client.agents.grantFile(own, agentName);
    if (grant === 'bad-signature') {
      await t.db.pool.query(
        // Flip one bit of the signature (overwriting with a constant is a no-op 1 time in 256).
        `UPDATE agent_key_grants
         SET envelope = set_byte(envelope, length(envelope) - 1, get_byte(envelope, length(envelope) - 1) # 1)
         WHERE grant_id = $1`,
        [g.grantId],
      );
    } else if (grant === 'foreign-signature') {
      // Bob signs a grant naming Alice as owner over a real FK; written straight to the table
      // (the API would refuse it). The gateway must check Alice's pinned key.
      const fileKey = await alice.client.drive.grantableKey(own);
      const gw = await alice.client.agents.gateway();
      const forged = await createGrant({
        userId: alice.id,
        agentId: agentName,
        subject: { resourceType: 'files', fileKey },
        terms: { grantId: g.grantId, accessLevel: 'decrypt_ephemeral', expiresAt: null },
        gatewayX25519PublicKey: gw.x25519PublicKey,
        ownerSigningKey: bob.client.identity!.ed25519.privateKey,
      });
      await t.db.pool.query('UPDATE agent_key_grants SET envelope = $2 WHERE grant_id = $1', [
        g.grantId,
        Buffer.from(forged.envelope),
      ]);
    } else if (grant === 'expired') {
      // Alice's own signature over an expiry already past (the API refuses a past expiry, so
      // the row is written straight to the table, its column and its signed terms alike).
      const fileKey = await alice.client.drive.grantableKey(own);
      const gw = await alice.client.agents.gateway();
      const expiresAt = Date.now() - 60_000;
      const signed = await createGrant({
        userId: alice.id,
        agentId: agentName,
        subject: { resourceType: 'files', fileKey },
        terms: { grantId: g.grantId, accessLevel: 'decrypt_ephemeral', expiresAt },
        gatewayX25519PublicKey: gw.x25519PublicKey,
        ownerSigningKey: alice.client.identity!.ed25519.privateKey,
      });
      await t.db.pool.query(
        'UPDATE agent_key_grants SET envelope = $2, expires_at = $3 WHERE grant_id = $1',
        [g.grantId, Buffer.from(signed.envelope), new Date(expiresAt)],
      );
    } else if (grant === 'revoked') {
      await alice.client.agents.revokeGrant(g.grantId);
    }
    return token;
  }

  CASES.forEach((c, i) => {
    it(`${c.name}: results and audit rows`, async () => {
      const agentName = `f${i}-agent`;
      const token = await setUp(c, agentName);
      const fileId = c.target === 'foreign' ? foreign : c.target === 'missing' ? MISSING : own;
      const mcp = await mcpClient(t.server.url, token);
      for (const tool of TOOLS) {
        const r = await mcp.callTool({
          name: tool,
          arguments: tool === 'list_files' ? (c.limit ? { limit: c.limit } : {}) : { fileId },
        });
        const rows = (
          await t.db.pool.query(
            `SELECT outcome, reason, resource_id, resource_type, decryption_success FROM decryption_audit_log
             WHERE agent_name = $1 AND tool_name = $2`,
            [agentName, tool],
          )
        ).rows;
        const want = c.expect[tool];
        const label = `${c.name} / ${tool}`;
        if (want === 'ok' || want === 'hidden') {
          expect(r.isError, `${label}: ${JSON.stringify(r.content)}`).toBeFalsy();
          if (tool === 'list_files') {
            const files = (r.structuredContent as { files: { id: string; name: string }[] }).files;
            expect(files, label).toEqual(
              want === 'hidden' ? [] : [expect.objectContaining({ id: own, name: 'plan.txt' })],
            );
            expect(rows, label).toEqual(
              want === 'hidden'
                ? c.listDenied
                  ? [expect.objectContaining({ outcome: 'denied', reason: c.listDenied })]
                  : []
                : [expect.objectContaining({ outcome: 'allowed', resource_id: own })],
            );
          } else {
            expect(rows, label).toEqual([
              expect.objectContaining({
                outcome: 'allowed',
                resource_id: own,
                resource_type: 'files',
                decryption_success: true,
              }),
            ]);
          }
          if (tool === 'file_info')
            expect(r.structuredContent, label).toMatchObject({ name: 'plan.txt', size: 21 });
          if (tool === 'read_file')
            expect(r.structuredContent, label).toMatchObject({
              encoding: 'text',
              text: 'file needle: the plan',
            });
          if (tool !== 'read_file') expect(JSON.stringify(r), label).not.toContain('file needle');
        } else {
          expect(r.isError, label).toBe(true);
          expect(errorCode(r), label).toBe(want);
          expect(JSON.stringify(r), label).not.toContain('file needle');
          expect(JSON.stringify(r), label).not.toContain('plan.txt');
          if (tool === 'list_files') expect(rows, label).toEqual([]);
          else
            expect(rows, label).toEqual([
              expect.objectContaining({ outcome: 'denied', reason: want, resource_id: fileId }),
            ]);
        }
      }
      await mcp.close();
    });
  });

  it('answers a foreign file and a missing one identically', async () => {
    const token = await setUp({ name: 'x', level: 'decrypt_ephemeral', expect: ALL('ok') }, 'twin');
    const mcp = await mcpClient(t.server.url, token);
    for (const tool of ['file_info', 'read_file'] as const) {
      const a = await mcp.callTool({ name: tool, arguments: { fileId: foreign } });
      const b = await mcp.callTool({ name: tool, arguments: { fileId: MISSING } });
      expect(a).toEqual(b);
    }
    await mcp.close();
  });

  it('returns a non-text file as a base64 embedded resource, and refuses one past the bound', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 0, 7]);
    const bin = await alice.client.drive.upload(new Blob([bytes]), {
      name: 'blob.bin',
      type: 'application/octet-stream',
    });
    const big = await alice.client.drive.upload(new Blob([new Uint8Array(2 * 1024 * 1024 + 1)]), {
      name: 'big.txt',
      type: 'text/plain',
    });
    const { token } = await alice.client.createAgentToken({ agentName: 'binary' });
    await alice.client.agents.setPermission({
      agentName: 'binary',
      resourceType: 'files',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantFile(bin.id, 'binary');
    await alice.client.agents.grantFile(big.id, 'binary');
    const mcp = await mcpClient(t.server.url, token);
    const r = await mcp.callTool({ name: 'read_file', arguments: { fileId: bin.id } });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ encoding: 'base64' });
    const resource = (r.content as { type: string; resource?: { blob: string } }[]).find(
      (x) => x.type === 'resource',
    );
    expect(Buffer.from(resource!.resource!.blob, 'base64')).toEqual(Buffer.from(bytes));
    const tooBig = await mcp.callTool({ name: 'read_file', arguments: { fileId: big.id } });
    expect(tooBig.isError).toBe(true);
    expect(errorCode(tooBig)).toBe('too-large');
    const info = await mcp.callTool({ name: 'file_info', arguments: { fileId: big.id } });
    expect(info.structuredContent).toMatchObject({ name: 'big.txt', size: 2 * 1024 * 1024 + 1 });
    await mcp.close();
  });

  it('shows the file tools in tools/list only at the levels that allow them', async () => {
    const { token } = await alice.client.createAgentToken({ agentName: 'lister' });
    const names = async () =>
      (await (await mcpClient(t.server.url, token)).listTools()).tools.map((x) => x.name);
    expect(await names()).not.toContain('list_files');
    await alice.client.agents.setPermission({
      agentName: 'lister',
      resourceType: 'files',
      accessLevel: 'metadata',
    });
    expect(await names()).toEqual(expect.arrayContaining(['list_files', 'file_info']));
    expect(await names()).not.toContain('read_file');
  });

  it('refuses a file grant for someone else’s file like a missing one', async () => {
    const fileKey = await bob.client.drive.grantableKey(foreign);
    const gw = await alice.client.agents.gateway();
    const grantId = crypto.randomUUID();
    const { envelope } = await createGrant({
      userId: alice.id,
      agentId: 'claude',
      subject: { resourceType: 'files', fileKey },
      terms: { grantId, accessLevel: 'decrypt_ephemeral', expiresAt: null },
      gatewayX25519PublicKey: gw.x25519PublicKey,
      ownerSigningKey: alice.client.identity!.ed25519.privateKey,
    });
    const body = (resourceId: string) => ({
      grantId,
      agentName: 'claude',
      resourceType: 'files',
      resourceId,
      scope: 'all_history',
      expiresAt: null,
      wraps: [{ epoch: 0, envelope: Buffer.from(envelope).toString('base64') }],
    });
    for (const id of [foreign, MISSING]) {
      const err = await alice.client.http
        .request('/api/agents/grants', { body: body(id) })
        .catch((e: unknown) => e as { status?: number });
      expect((err as { status?: number }).status).toBe(404);
    }
  });
});

describe('file tools: no file name or content in PostgreSQL, Redis or the logs', () => {
  let db: TestDatabase;
  let redis: Redis;
  let url: string;
  let close: () => Promise<void>;
  const logLines: string[] = [];
  const prefix = `t${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
    const config = testConfig({
      VUTLER_GATEWAY_KEY: key,
      VUTLER_REDIS_PREFIX: prefix,
      ...env.overrides,
    });
    const logger = createLogger('debug', { write: (line: string) => void logLines.push(line) });
    const vutler = createApp({
      config,
      logger,
      pool: db.pool,
      redis,
      secrets: { serverKey: new Uint8Array(randomBytes(32)) },
      gatewayKeys: await loadGatewayKeys(config),
      atRest: env.keyring,
    });
    ({ url, close } = await serveApp(vutler));
  });
  afterAll(async () => {
    await close?.();
    redis?.disconnect();
    await db?.drop();
  });

  it('after listing, inspecting and reading a granted file', async () => {
    const tag = randomBytes(8).toString('hex');
    const name = `canary-name-${tag}.txt`;
    const content = `canary-content-${tag}`;
    const alice = await person(url, 'alice');
    const file = await alice.client.drive.upload(new Blob([content]), { name, type: 'text/plain' });
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'files',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantFile(file.id, 'claude');
    const mcp = await mcpClient(url, token);
    const list = await mcp.callTool({ name: 'list_files', arguments: {} });
    expect(JSON.stringify(list)).toContain(name);
    const read = await mcp.callTool({ name: 'read_file', arguments: { fileId: file.id } });
    expect(JSON.stringify(read)).toContain(content);
    await mcp.callTool({ name: 'file_info', arguments: { fileId: file.id } });
    await mcp.close();
    const needles = [
      { label: 'file name', value: name },
      { label: 'file content', value: content },
    ];
    expect(logLines.length).toBeGreaterThan(3);
    expect(await findSecrets(db.pool, redis, needles)).toEqual([]);
    const logs = logLines.join('\n');
    expect(needles.filter((n) => logs.includes(n.value)).map((n) => n.label)).toEqual([]);
  });
});
