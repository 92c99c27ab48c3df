import { describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

describe('agent_tokens.last_used_at: written at most once a minute per token', () => {
  // The rule lives in the token query: with the token cache off, every call runs it (with the
  // cache on it runs when the token is looked up again, at most every VUTLER_SESSION_CACHE_MS).
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key, VUTLER_SESSION_CACHE_MS: '0' });

  it('does not rewrite the token row on every call, and does once the minute is over', async () => {
    const alice = await person(t.server.url, 'alice');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    const mcp = await mcpClient(t.server.url, token);
    const state = async () =>
      (
        await t.db.pool.query(
          `SELECT xmin::text AS xmin, last_used_at FROM agent_tokens WHERE user_id = $1`,
          [alice.id],
        )
      ).rows[0] as { xmin: string; last_used_at: Date | null };
    await mcp.callTool({ name: 'whoami', arguments: {} });
    const first = await state();
    expect(first.last_used_at).not.toBeNull();
    for (let i = 0; i < 3; i++) await mcp.callTool({ name: 'whoami', arguments: {} });
    // The same row version: no write per call.
    expect(await state()).toEqual(first);
    await t.db.pool.query(
      `UPDATE agent_tokens SET last_used_at = now() - interval '2 minutes' WHERE user_id = $1`,
      [alice.id],
    );
    const stale = await state();
    await mcp.callTool({ name: 'whoami', arguments: {} });
    const after = await state();
    expect(after.last_used_at!.getTime()).toBeGreaterThan(stale.last_used_at!.getTime() + 60_000);
    await mcp.close();
  });
});
