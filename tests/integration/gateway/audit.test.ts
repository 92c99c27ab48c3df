import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { parseGatewayKeys } from '../../../src/crypto/grants.ts';
import { loadGatewayKeys } from '../../../src/gateway/keys.ts';
import { createLogger } from '../../../src/log.ts';
import { serveApp, testConfig, testRedis } from '../../helpers/app.ts';
import { captureClientSecrets, findSecrets } from '../../helpers/canary.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const keyLine = await gatewayKeyLine();
const CANARY = `canary-${randomBytes(8).toString('hex')}`;

describe('audit: fail closed, readable by the owner, and no plaintext anywhere', () => {
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
    // A real logger at debug level, captured, so the scan below covers what the server logs.
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

  /** Alice and Bob's chat with Bob's `first` message, granted by Alice to her agent `claude`. */
  async function grantedChat(
    first: { from: 'alice' | 'bob'; text: string },
    opts: { allowWrite?: boolean; allHistory?: boolean } = {},
  ) {
    const alice = await person(url, 'alice');
    const bob = await person(url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await (first.from === 'alice' ? alice : bob).client.chats.send(chat.id, first.text);
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      ...(opts.allowWrite ? { conditions: { allow_write: true } } : {}),
    });
    await alice.client.agents.grantChat(
      chat.id,
      'claude',
      opts.allHistory ? { scope: 'all_history' } : undefined,
    );
    return { alice, bob, chat, token };
  }

  /** Runs `body` while every audit insert fails in PostgreSQL (a constraint no row meets). */
  async function withAuditDown(body: () => Promise<void>): Promise<void> {
    await db.pool.query(
      'ALTER TABLE decryption_audit_log ADD CONSTRAINT test_audit_down CHECK (tool_name IS NULL) NOT VALID',
    );
    try {
      await body();
    } finally {
      await db.pool.query('ALTER TABLE decryption_audit_log DROP CONSTRAINT test_audit_down');
    }
  }

  it('returns no plaintext when the audit row cannot be written', async () => {
    const { chat, token } = await grantedChat({ from: 'bob', text: `unaudited ${CANARY}` });
    const mcp = await mcpClient(url, token);
    // A real PostgreSQL failure on every audit insert (not a mock).
    await withAuditDown(async () => {
      for (const call of [
        { name: 'read_messages', arguments: { chatId: chat.id } },
        { name: 'search_messages', arguments: { query: 'unaudited' } },
        { name: 'list_chats', arguments: {} },
      ]) {
        const r = await mcp.callTool(call);
        expect(r.isError, call.name).toBe(true);
        expect(errorCode(r), call.name).toBe('audit-unavailable');
        expect(JSON.stringify(r)).not.toContain(CANARY);
        expect(r.structuredContent).toBeUndefined();
      }
    });
    const ok = await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    expect(JSON.stringify(ok)).toContain(CANARY);
    await mcp.close();
  });

  it('returns no plaintext to any of the calls whose audit rows were to be written together', async () => {
    const { chat, token } = await grantedChat({ from: 'bob', text: `together ${CANARY}` });
    const clients = await Promise.all(Array.from({ length: 6 }, () => mcpClient(url, token)));
    const read = () =>
      Promise.all(
        clients.map((c) => c.callTool({ name: 'read_messages', arguments: { chatId: chat.id } })),
      );
    await withAuditDown(async () => {
      for (const r of await read()) {
        expect(errorCode(r)).toBe('audit-unavailable');
        expect(JSON.stringify(r)).not.toContain(CANARY);
      }
    });
    const audited = async () =>
      (
        await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM decryption_audit_log WHERE resource_id = $1`,
          [chat.id],
        )
      ).rows[0]!.n;
    expect(await audited()).toBe(0);
    for (const r of await read()) expect(JSON.stringify(r)).toContain(CANARY);
    expect(await audited()).toBe(6);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('lets the owner page through their log with filters, and no one else', async () => {
    const { alice, bob, chat, token } = await grantedChat({ from: 'alice', text: 'hello' });
    const mcp = await mcpClient(url, token);
    for (let i = 0; i < 5; i++)
      await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    await mcp.callTool({ name: 'post_message', arguments: { chatId: chat.id, text: 'no write' } });
    await mcp.close();

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await alice.client.agents.audit({ limit: 2, cursor });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(new Set(seen).size).toBe(6);
    const denied = await alice.client.agents.audit({ outcome: 'denied' });
    expect(denied.entries).toEqual([
      expect.objectContaining({
        toolName: 'post_message',
        reason: 'write-not-allowed',
        resourceId: chat.id,
      }),
    ]);
    expect(
      (await alice.client.agents.audit({ resourceId: chat.id, outcome: 'allowed' })).entries,
    ).toHaveLength(5);
    expect((await bob.client.agents.audit()).entries).toEqual([]);
    const bad = await fetch(`${url}/api/audit?outcome=maybe`, {
      headers: { authorization: `Bearer ${alice.client.session!.token}` },
    });
    expect(bad.status).toBe(422);
  });

  it('leaves no plaintext, chat key or gateway private key in PostgreSQL, Redis or the logs', async () => {
    const secrets = captureClientSecrets();
    try {
      const { bob, chat, token } = await grantedChat(
        { from: 'bob', text: `question ${CANARY}` },
        { allowWrite: true, allHistory: true },
      );
      const mcp = await mcpClient(url, token);
      await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
      await mcp.callTool({ name: 'search_messages', arguments: { query: CANARY } });
      await mcp.callTool({
        name: 'post_message',
        arguments: { chatId: chat.id, text: `answer ${CANARY}` },
      });
      await mcp.callTool({ name: 'read_messages', arguments: { chatId: 'not-a-uuid' } });
      await mcp.close();
      await bob.client.agents.gateway();
      const history = await bob.client.chats.history(chat.id);
      expect(history.map((m) => m.body?.text)).toEqual([`question ${CANARY}`, `answer ${CANARY}`]);

      const gateway = await parseGatewayKeys(keyLine);
      expect(gateway.x25519.publicKey.length).toBe(32);
      const needles = [
        ...secrets.needles,
        { label: 'canary', value: CANARY },
        { label: 'gateway-key-line', value: keyLine.slice('vutler-gateway-key:'.length, 60) },
        { label: 'agent-token', value: token },
      ];
      expect(await findSecrets(db.pool, redis, needles)).toEqual([]);
      const logs = logLines.join('');
      expect(logs.length).toBeGreaterThan(0);
      for (const n of needles) {
        const forms =
          typeof n.value === 'string'
            ? [n.value]
            : [
                Buffer.from(n.value).toString('hex'),
                Buffer.from(n.value).toString('base64').replace(/=+$/, ''),
              ];
        for (const f of forms) expect(logs.includes(f), `${n.label} in logs`).toBe(false);
      }
    } finally {
      secrets.restore();
    }
  });
});
