import { describe, expect, it } from 'vitest';
import { AgentTokenCache } from '../../../src/auth/agent-tokens.cache.ts';
import type { AgentTokenRow } from '../../../src/auth/agent-tokens.repository.ts';
import { hashToken } from '../../../src/auth/tokens.ts';
import { createRedis } from '../../../src/redis.ts';
import { startTestServer, testRedis, useTwoNodes } from '../../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { person } from '../../helpers/people.ts';
import { PrivateRedis } from '../../helpers/redis-server.ts';
import { until } from '../../helpers/wait.ts';

/** An agent-token request; the status is all these tests look at. */
async function whoamiStatus(baseUrl: string, token: string): Promise<number> {
  const res = await fetch(`${baseUrl}/api/agent/whoami`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

async function revokeBehindTheServersBack(db: TestDatabase, tokenId: string): Promise<void> {
  await db.pool.query('UPDATE agent_tokens SET revoked_at = now() WHERE id = $1', [tokenId]);
}

describe(AgentTokenCache.name, () => {
  describe('two nodes on one Redis', () => {
    // B hears every announcement 150 ms late: "at once" below must not depend on who is quicker.
    const nodes = useTwoNodes({}, { bHearsLateMs: 150 });

    it('serves a token it has seen from memory (no PostgreSQL read) for a few seconds', async () => {
      const alice = await person(nodes.a.url, 'alice');
      const { token, id } = await alice.client.createAgentToken({ agentName: 'claude' });
      expect(await whoamiStatus(nodes.b.url, token)).toBe(200);
      // Revoked without telling anyone: node B still trusts what it remembered — the bound the
      // TTL sets on a change no announcement tells of.
      await revokeBehindTheServersBack(nodes.db, id);
      expect(await whoamiStatus(nodes.b.url, token)).toBe(200);
      // A node that never saw the token reads PostgreSQL.
      expect(await whoamiStatus(nodes.a.url, token)).toBe(401);
    });

    it('refuses a revoked token at once on the other node, though it had it cached', async () => {
      const alice = await person(nodes.a.url, 'alice');
      const { token, id } = await alice.client.createAgentToken({ agentName: 'claude' });
      const other = await alice.client.createAgentToken({ agentName: 'helper' });
      for (const url of [nodes.a.url, nodes.b.url]) {
        expect(await whoamiStatus(url, token)).toBe(200);
        expect(await whoamiStatus(url, other.token)).toBe(200);
      }
      await alice.client.revokeAgentToken(id);
      expect(await whoamiStatus(nodes.b.url, token)).toBe(401);
      expect(await whoamiStatus(nodes.a.url, token)).toBe(401);
      // The owner's other token is only forgotten, not refused: read again, still live.
      expect(await whoamiStatus(nodes.b.url, other.token)).toBe(200);
    });

    it('refuses a discarded agent-run token at once on every node', async () => {
      const alice = await person(nodes.a.url, 'alice');
      const tokens = nodes.a.vutler.services.agentTokens;
      const run = await tokens.mintForRun(alice.id, 'claude', 300);
      for (const url of [nodes.a.url, nodes.b.url])
        expect(await whoamiStatus(url, run.token)).toBe(200);
      expect(
        nodes.a.vutler.services.agentTokens.cache!.get(hashToken(run.token).toString('base64')),
      ).toBeDefined();
      // As the worker does when the run ends (its own services: no cache, same channel).
      await nodes.b.vutler.services.agentTokens.discardRunToken(alice.id, run.tokenId);
      expect(await whoamiStatus(nodes.b.url, run.token)).toBe(401);
      // Node A heard of it through Redis and confirmed before the discard returned: its memory
      // of the token is gone already (well within the 5 s time to live: only the announcement).
      const cache = nodes.a.vutler.services.agentTokens.cache!;
      expect(cache.get(hashToken(run.token).toString('base64'))).toBeUndefined();
      expect(await whoamiStatus(nodes.a.url, run.token)).toBe(401);
    });
  });

  it('forgets a remembered token after its time to live', async () => {
    const db = await createTestDatabase();
    const redis = testRedis();
    const node = await startTestServer(db.pool, redis, { VUTLER_SESSION_CACHE_MS: '300' });
    try {
      const alice = await person(node.url, 'alice');
      const { token, id } = await alice.client.createAgentToken({ agentName: 'claude' });
      expect(await whoamiStatus(node.url, token)).toBe(200);
      await revokeBehindTheServersBack(db, id);
      await new Promise((r) => setTimeout(r, 400));
      expect(await whoamiStatus(node.url, token)).toBe(401);
    } finally {
      await node.close();
      redis.disconnect();
      await db.drop();
    }
  });

  it('stops trusting memory the moment the revocation channel drops, and starts again once it is back', async () => {
    const db = await createTestDatabase();
    const server = await PrivateRedis.start();
    const redis = createRedis(server.url);
    const node = await startTestServer(db.pool, redis);
    try {
      const alice = await person(node.url, 'alice');
      const first = await alice.client.createAgentToken({ agentName: 'claude' });
      const second = await alice.client.createAgentToken({ agentName: 'helper' });
      expect(await whoamiStatus(node.url, first.token)).toBe(200);
      await revokeBehindTheServersBack(db, first.id);
      expect(await whoamiStatus(node.url, first.token)).toBe(200);

      // A revocation announced while Redis is away would be missed: nothing remembered is used.
      await server.stop();
      const cache = node.vutler.services.agentTokens.cache!;
      await until(() => !cache.enabled, 'the cache turning off with the subscription');
      expect(await whoamiStatus(node.url, first.token)).toBe(401);
      expect(await whoamiStatus(node.url, second.token)).toBe(200);
      expect(cache.size).toBe(0);

      await server.start();
      await until(() => cache.enabled, 'the cache turning on once resubscribed', 20_000);
      expect(await whoamiStatus(node.url, second.token)).toBe(200);
      expect(cache.size).toBe(1);
    } finally {
      if (!server.running) await server.start();
      await node.close();
      redis.disconnect();
      await server.stop();
      await db.drop();
    }
  }, 60_000);

  it('checks expiry on every hit, and never stores a lookup that began before a revocation', () => {
    let now = 1_000_000;
    const cache = new AgentTokenCache({ ttlMs: 5_000, maxEntries: 2, now: () => now });
    const row = (id: string, userId: string, expiresAt: number): AgentTokenRow => ({
      id,
      user_id: userId,
      agent_name: 'claude',
      label: null,
      created_at: new Date(0),
      expires_at: new Date(expiresAt),
      revoked_at: null,
      last_used_at: null,
    });
    // Off until the channel is up.
    cache.remember('h1', row('t1', 'u1', now + 1_000), cache.generation());
    expect(cache.get('h1')).toBeUndefined();
    cache.channelUp();
    cache.remember('h1', row('t1', 'u1', now + 1_000), cache.generation());
    expect(cache.get('h1')?.id).toBe('t1');
    now += 1_000;
    expect(cache.get('h1')).toBeUndefined();

    const g = cache.generation();
    cache.forget({ userId: 'someone else' });
    cache.remember('h2', row('t2', 'u1', now + 60_000), g);
    expect(cache.get('h2')).toBeUndefined();

    cache.remember('h2', row('t2', 'u1', now + 60_000), cache.generation());
    cache.remember('h3', row('t3', 'u2', now + 60_000), cache.generation());
    cache.forget({ sessionIds: ['s1'] });
    expect(cache.size).toBe(2);
    cache.forget({ userId: 'u1' });
    expect(cache.get('h2')).toBeUndefined();
    expect(cache.get('h3')?.id).toBe('t3');
    now += 5_000;
    expect(cache.get('h3')).toBeUndefined();
  });
});
