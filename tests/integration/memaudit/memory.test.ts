import { randomBytes } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { loadGatewayKeys } from '../../../src/gateway/keys.ts';
import { createLogger } from '../../../src/log.ts';
import { serveApp, testConfig, testRedis } from '../../helpers/app.ts';
import { captureClientSecrets, findSecrets } from '../../helpers/canary.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { errorCode, gatewayKeyLine, mcpClient, textOf } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const keyLine = await gatewayKeyLine();
const CANARY = `memcanary${randomBytes(8).toString('hex')}`;

type Recalled = {
  memories: Array<{ id: string; text: string; writtenBy: string; tags: string[] }>;
  considered: number;
  rejected: number;
};

describe('agent memory: remember, recall, forget, and the owner reads and corrects it', () => {
  let db: TestDatabase;
  let redis: Redis;
  let url: string;
  let close: () => Promise<void>;
  const logLines: string[] = [];
  const prefix = `t${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
    const config = testConfig({ VUTLER_GATEWAY_KEY: keyLine, VUTLER_REDIS_PREFIX: prefix });
    const logger = createLogger('debug', { write: (line: string) => void logLines.push(line) });
    const vutler = createApp({
      config,
      logger,
      pool: db.pool,
      redis,
      secrets: { serverKey: new Uint8Array(randomBytes(32)) },
      gatewayKeys: await loadGatewayKeys(config),
    });
    ({ url, close } = await serveApp(vutler));
  });
  afterAll(async () => {
    await close?.();
    redis?.disconnect();
    await db?.drop();
  });

  async function owner(conditions: Record<string, unknown> = { allow_write: true }) {
    const alice = await person(url, 'alice');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'memory',
      accessLevel: 'decrypt_ephemeral',
      conditions,
    });
    return { alice, token };
  }

  const recall = async (mcp: Client, query: string) => {
    const r = await mcp.callTool({ name: 'recall', arguments: { query } });
    expect(r.isError, textOf(r)).toBeFalsy();
    return r.structuredContent as Recalled;
  };

  it('round-trips through the gateway and the owner’s client, ranks lexically, forgets for good', async () => {
    const secrets = captureClientSecrets();
    try {
      const { alice, token } = await owner();
      await alice.client.memory.grant('claude');
      const mcp = await mcpClient(url, token);
      const names = (await mcp.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['remember', 'recall', 'forget']));

      const a = await mcp.callTool({
        name: 'remember',
        arguments: { text: `Alice prefers tea over coffee ${CANARY}`, tags: ['drinks'] },
      });
      expect(a.isError, textOf(a)).toBeFalsy();
      const teaId = (a.structuredContent as { id: string }).id;
      await mcp.callTool({ name: 'remember', arguments: { text: 'The deploy window is Friday' } });
      await mcp.callTool({ name: 'remember', arguments: { text: 'Coffee machine on floor 2' } });

      const tea = await recall(mcp, 'what does alice drink, tea?');
      expect(tea.memories[0]?.id).toBe(teaId);
      expect(tea.memories[0]?.text).toContain(CANARY);
      expect(tea.memories.map((m) => m.text)).not.toContain('The deploy window is Friday');
      expect((await recall(mcp, 'deploy friday')).memories[0]?.text).toBe(
        'The deploy window is Friday',
      );

      // The owner reads it on their device, verified as the agent's (the gateway's signature).
      const listed = await alice.client.memory.list('claude');
      expect(listed).toHaveLength(3);
      expect(listed.every((m) => m.status === 'ok' && m.writtenBy === 'agent')).toBe(true);

      // …corrects it (now signed by the owner) and adds one of their own.
      await alice.client.memory.correct('claude', teaId, 'Alice drinks green tea only');
      await alice.client.memory.write('claude', 'Alice is on holiday in August', {
        tags: ['holiday'],
      });
      const after = await recall(mcp, 'tea');
      expect(after.memories[0]).toMatchObject({
        id: teaId,
        text: 'Alice drinks green tea only',
        writtenBy: 'user',
      });
      expect((await recall(mcp, 'holiday')).memories[0]?.writtenBy).toBe('user');

      // forget deletes the row: neither the agent nor the owner sees it again.
      const f = await mcp.callTool({ name: 'forget', arguments: { id: teaId } });
      expect(f.isError, textOf(f)).toBeFalsy();
      const again = await mcp.callTool({ name: 'forget', arguments: { id: teaId } });
      expect(errorCode(again)).toBe('not-found');
      const rows = await db.pool.query('SELECT 1 FROM agent_memories WHERE id = $1', [teaId]);
      expect(rows.rowCount).toBe(0);
      expect((await alice.client.memory.list('claude')).map((m) => m.id)).not.toContain(teaId);

      // Every call is audited as a memory access.
      const audit = await db.pool.query<{ tool_name: string; outcome: string }>(
        `SELECT tool_name, outcome FROM decryption_audit_log WHERE user_id = $1 AND resource_type = 'memory'`,
        [alice.id],
      );
      const tools = audit.rows.map((r) => `${r.tool_name}:${r.outcome}`);
      expect(tools.filter((t) => t === 'remember:allowed')).toHaveLength(3);
      expect(tools).toContain('recall:allowed');
      expect(tools).toContain('forget:allowed');
      expect(tools).toContain('forget:denied');
      await mcp.close();

      // No plaintext memory, and no memory or master key, in any table, Redis key or log line.
      const found = await findSecrets(db.pool, redis, [
        ...secrets.needles,
        { label: 'canary', value: CANARY },
        { label: 'corrected', value: 'Alice drinks green tea only' },
      ]);
      expect(found).toEqual([]);
      expect(logLines.join('\n')).not.toContain(CANARY);
      expect(logLines.join('\n')).not.toContain('green tea');
    } finally {
      secrets.restore();
    }
  });

  it('refuses and audits without permission, without allow_write, without a grant, and across agents', async () => {
    const { alice, token } = await owner({});
    const mcp = await mcpClient(url, token);
    // Permission but no memory key or grant yet.
    expect(errorCode(await mcp.callTool({ name: 'recall', arguments: {} }))).toBe('no-grant');
    await alice.client.memory.grant('claude');
    expect((await recall(mcp, '')).memories).toEqual([]);
    const w = await mcp.callTool({ name: 'remember', arguments: { text: 'x' } });
    expect(errorCode(w)).toBe('write-not-allowed');
    expect((await mcp.listTools()).tools.map((t) => t.name)).not.toContain('remember');
    await alice.client.memory.write('claude', 'only for claude');

    // Another agent of the same owner has no memory permission and no key of claude's.
    const { token: other } = await alice.client.createAgentToken({ agentName: 'gpt' });
    const gpt = await mcpClient(url, other);
    expect(errorCode(await gpt.callTool({ name: 'recall', arguments: {} }))).toBe('no-permission');
    await alice.client.agents.setPermission({
      agentName: 'gpt',
      resourceType: 'memory',
      accessLevel: 'decrypt_ephemeral',
    });
    expect(errorCode(await gpt.callTool({ name: 'recall', arguments: {} }))).toBe('no-grant');

    // Revoking the grant stops the gateway at once.
    const [grant] = (await alice.client.agents.grants('claude')).filter(
      (g) => g.resourceType === 'memory',
    );
    await alice.client.agents.revokeGrant(grant!.grantId);
    expect(errorCode(await mcp.callTool({ name: 'recall', arguments: {} }))).toBe('no-grant');

    const denied = await db.pool.query(
      `SELECT count(*)::int AS n FROM decryption_audit_log WHERE user_id = $1 AND resource_type = 'memory' AND outcome = 'denied'`,
      [alice.id],
    );
    expect(denied.rows[0].n).toBe(5);
    await mcp.close();
    await gpt.close();
  });

  it('rejects entries moved between rows or forged in the database, on both sides', async () => {
    const { alice, token } = await owner();
    await alice.client.memory.grant('claude');
    const mcp = await mcpClient(url, token);
    const one = await alice.client.memory.write('claude', 'first');
    const two = await alice.client.memory.write('claude', 'second');
    // The server swaps two envelopes: each is bound to its own entry id.
    await db.pool.query(
      `UPDATE agent_memories SET envelope = CASE id WHEN $1::uuid THEN (SELECT envelope FROM agent_memories WHERE id = $2::uuid)
         ELSE (SELECT envelope FROM agent_memories WHERE id = $1::uuid) END WHERE id IN ($1::uuid, $2::uuid)`,
      [one.id, two.id],
    );
    const r = await recall(mcp, '');
    expect(r.memories).toEqual([]);
    expect(r.rejected).toBe(2);
    expect((await alice.client.memory.list('claude')).map((m) => m.status)).toEqual([
      'rejected',
      'rejected',
    ]);

    // A person's entry must carry their own signature: garbage or another's is refused, 4xx.
    const res = await fetch(`${url}/api/memory/claude/entries/${one.id}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${alice.client.session?.token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ envelope: Buffer.from(randomBytes(120)).toString('base64') }),
    });
    expect(res.status).toBe(400);
    await mcp.close();
  });
});
