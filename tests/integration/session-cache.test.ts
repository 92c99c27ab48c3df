import { describe, expect, it } from 'vitest';
import { SessionCache } from '../../src/auth/session-cache.ts';
import { createRedis } from '../../src/redis.ts';
import { startTestServer, testRedis, useTwoNodes } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { newClient, person } from '../helpers/people.ts';
import { PrivateRedis } from '../helpers/redis-server.ts';
import { until } from '../helpers/wait.ts';

/** A bearer request; the status is all these tests look at. */
async function chatsStatus(baseUrl: string, token: string): Promise<number> {
  const res = await fetch(`${baseUrl}/api/chats`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

async function revokeBehindTheServersBack(db: TestDatabase, sessionId: string): Promise<void> {
  await db.pool.query('UPDATE sessions SET revoked_at = now() WHERE id = $1', [sessionId]);
}

describe(SessionCache.name, () => {
  describe('two nodes on one Redis', () => {
    // B hears every announcement 150 ms late: "at once" below must not depend on who is quicker.
    const nodes = useTwoNodes({}, { bHearsLateMs: 150 });

    it('serves a session it has seen from memory (no PostgreSQL read) for a few seconds', async () => {
      const bob = await person(nodes.a.url, 'bob');
      const { token, sessionId } = bob.client.session!;
      expect(await chatsStatus(nodes.b.url, token)).toBe(200);
      // Revoked without telling anyone: node B still trusts what it remembered — the bound the
      // TTL sets on a revocation whose announcement is lost.
      await revokeBehindTheServersBack(nodes.db, sessionId);
      expect(await chatsStatus(nodes.b.url, token)).toBe(200);
      // A node that never saw the token reads PostgreSQL.
      const c = await startTestServer(nodes.db.pool, nodes.redis);
      try {
        expect(await chatsStatus(c.url, token)).toBe(401);
      } finally {
        await c.close();
      }
    });

    it('refuses a logged-out session at once on the other node, though it had it cached', async () => {
      const bob = await person(nodes.a.url, 'bob');
      const token = bob.client.session!.token;
      expect(await chatsStatus(nodes.b.url, token)).toBe(200);
      expect(await chatsStatus(nodes.b.url, token)).toBe(200);
      await bob.client.logout();
      expect(await chatsStatus(nodes.b.url, token)).toBe(401);
      expect(await chatsStatus(nodes.a.url, token)).toBe(401);
    });

    it('refuses every old session of a user at once on both nodes after a passphrase change', async () => {
      const alice = await person(nodes.a.url, 'alice');
      const phone = newClient(nodes.b.url);
      await phone.login({ email: alice.email, passphrase: alice.passphrase });
      const oldToken = alice.client.session!.token;
      const phoneToken = phone.session!.token;
      for (const url of [nodes.a.url, nodes.b.url])
        for (const t of [oldToken, phoneToken]) expect(await chatsStatus(url, t)).toBe(200);
      await alice.client.changePassphrase({
        current: alice.passphrase,
        next: 'another passphrase 7',
      });
      for (const url of [nodes.a.url, nodes.b.url])
        for (const t of [oldToken, phoneToken]) expect(await chatsStatus(url, t)).toBe(401);
      // The session the change handed back works on both.
      for (const url of [nodes.a.url, nodes.b.url])
        expect(await chatsStatus(url, alice.client.session!.token)).toBe(200);
    });
  });

  it('forgets a remembered session after its time to live', async () => {
    const db = await createTestDatabase();
    const redis = testRedis();
    const node = await startTestServer(db.pool, redis, { VUTLER_SESSION_CACHE_MS: '300' });
    try {
      const bob = await person(node.url, 'bob');
      const { token, sessionId } = bob.client.session!;
      expect(await chatsStatus(node.url, token)).toBe(200);
      await revokeBehindTheServersBack(db, sessionId);
      await new Promise((r) => setTimeout(r, 400));
      expect(await chatsStatus(node.url, token)).toBe(401);
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
      const [bob, carol] = await Promise.all([person(node.url, 'bob'), person(node.url, 'carol')]);
      expect(await chatsStatus(node.url, bob.client.session!.token)).toBe(200);
      await revokeBehindTheServersBack(db, bob.client.session!.sessionId);
      expect(await chatsStatus(node.url, bob.client.session!.token)).toBe(200);

      // A revocation announced while Redis is away would be missed: nothing remembered is used.
      await server.stop();
      const cache = node.vutler.services.sessions.cache!;
      await until(() => !cache.enabled, 'the cache turning off with the subscription');
      expect(await chatsStatus(node.url, bob.client.session!.token)).toBe(401);
      expect(await chatsStatus(node.url, carol.client.session!.token)).toBe(200);
      expect(cache.size).toBe(0);

      await server.start();
      await until(() => cache.enabled, 'the cache turning on once resubscribed', 20_000);
      expect(await chatsStatus(node.url, carol.client.session!.token)).toBe(200);
      expect(cache.size).toBe(1);
    } finally {
      if (!server.running) await server.start();
      await node.close();
      redis.disconnect();
      await server.stop();
      await db.drop();
    }
  }, 60_000);
});
