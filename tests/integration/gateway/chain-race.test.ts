import { describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

describe('post_message: one agent chain per (owner, agent, chat), even under concurrency', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('gives concurrent posts distinct, consecutive chain counters that members verify', async () => {
    const alice = await person(t.server.url, 'alice');
    const bob = await person(t.server.url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    await alice.client.agents.grantChat(chat.id, 'claude');
    await bob.client.agents.gateway(); // Bob's device pins the key agent messages are checked with
    // Separate MCP clients: separate HTTP requests that race in the server.
    const clients = await Promise.all(
      Array.from({ length: 6 }, () => mcpClient(t.server.url, token)),
    );
    const results = await Promise.all(
      clients.map((c, i) =>
        c.callTool({ name: 'post_message', arguments: { chatId: chat.id, text: `race ${i}` } }),
      ),
    );
    for (const r of results) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const { rows } = await t.db.pool.query(
      `SELECT chain_counter::int AS counter FROM messages WHERE chat_id = $1 AND sender_agent = 'claude'
       ORDER BY seq`,
      [chat.id],
    );
    expect(rows.map((r) => r.counter)).toEqual([0, 1, 2, 3, 4, 5].map((n) => n + rows[0].counter));
    const history = await bob.client.chats.history(chat.id);
    // Bob's client verifies each message and the agent chain: a forked chain shows as a fork.
    const agent = history.filter((m) => m.body?.text?.startsWith('race '));
    for (const m of agent) expect([m.status, m.sequence]).toEqual(['ok', 'in-order']);
    const agentTexts = agent.map((m) => m.body?.text).sort();
    expect(agentTexts).toEqual(['race 0', 'race 1', 'race 2', 'race 3', 'race 4', 'race 5']);
    await Promise.all(clients.map((c) => c.close()));
  });
});
