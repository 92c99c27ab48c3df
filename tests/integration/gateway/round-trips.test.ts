import { describe, expect, it } from 'vitest';
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
  });
});
