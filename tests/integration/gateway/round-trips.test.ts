import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { GatewayChatsRepository } from '../../../src/gateway/chats.repository.ts';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

/**
 * What one `read_messages` call asks PostgreSQL (issue 11's speed target is bound by CPU, and
 * every statement costs a backend wake-up there and driver work here): the token from memory,
 * then one statement for permission, membership, page, grants and pins, then the audit insert.
 */
describe('read_messages: statements per call', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('reads with one statement and audits with one, the token check answered from memory', async () => {
    const alice = await person(t.server.url, 'alice');
    const bob = await person(t.server.url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    for (let i = 0; i < 6; i++) await (i % 2 ? bob : alice).client.chats.send(chat.id, `m${i}`);
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantChat(chat.id, 'claude');
    const mcp = await mcpClient(t.server.url, token);
    const read = () => mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    // The first call pins the senders (a few more statements, once).
    expect((await read()).isError).toBeFalsy();

    const pool = t.db.pool;
    const texts: string[] = [];
    const query = pool.query.bind(pool);
    // The real pool, every statement passed on: only counted.
    pool.query = ((...a: Parameters<typeof query>) => {
      const q = a[0] as string | { text: string };
      texts.push(typeof q === 'string' ? q : q.text);
      return query(...a);
    }) as typeof pool.query;
    try {
      const r = await read();
      expect(r.isError).toBeFalsy();
      expect(
        (r.structuredContent as { messages: { status: string }[] }).messages.map((m) => m.status),
      ).toEqual(Array(6).fill('ok'));
    } finally {
      pool.query = query as typeof pool.query;
    }
    expect(texts).toHaveLength(2);
    expect(texts[0]).toMatch(/FROM agent_permissions/);
    expect(texts[1]).toMatch(/^INSERT INTO decryption_audit_log/);
    await mcp.close();

    // With many owners pinned and granted, that statement still goes by index to the few rows
    // it needs (the generic plan: what a named statement runs after its first executions).
    const c = new pg.Client({ connectionString: t.db.url });
    await c.connect();
    try {
      await c.query(`INSERT INTO users (email) SELECT 'many' || g || '@example.com'
        FROM generate_series(1, 5000) g`);
      await c.query(`INSERT INTO gateway_identity_pins (user_id, ed25519_public, gateway_public, pin_signature)
        SELECT id, '\\x00', '\\x00', '\\x00' FROM users WHERE email LIKE 'many%'`);
      await c.query(`INSERT INTO agent_key_grants (grant_id, epoch, user_id, agent_name, resource_type,
          resource_id, access_level, scope, envelope)
        SELECT gen_random_uuid(), 0, id, 'claude', 'chat', gen_random_uuid(), 'decrypt_ephemeral',
          'all_history', '\\x00' FROM users WHERE email LIKE 'many%'`);
      await c.query('ANALYZE');
      const call: { text?: string; values?: unknown[] } = {};
      const capture = async (q: { text: string; values: unknown[] }) => {
        Object.assign(call, q);
        return { rows: [{ call: { permissions: [], chat: null, grants: [], pins: [] } }] };
      };
      await new GatewayChatsRepository({ query: capture as never }).readCall(
        alice.id,
        'claude',
        chat.id,
        {},
        50,
      );
      await c.query('SET plan_cache_mode = force_generic_plan');
      await c.query(`PREPARE read_call(uuid, text, uuid, bigint, int) AS ${call.text}`);
      const args = call.values!.map((v) => c.escapeLiteral(String(v))).join(', ');
      const plan = (await c.query(`EXPLAIN (COSTS OFF) EXECUTE read_call(${args})`)).rows
        .map((r) => r['QUERY PLAN'] as string)
        .join('\n');
      expect(plan).not.toMatch(/Seq Scan on gateway_identity_pins/);
      expect(plan).not.toMatch(/Seq Scan on agent_key_grants/);
    } finally {
      await c.end();
    }
  });
});
