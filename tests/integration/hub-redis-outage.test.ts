import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/client/index.ts';
import { createRedis } from '../../src/redis.ts';
import { startTestServer, type TestServer } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { newClient, person } from '../helpers/people.ts';
import { PrivateRedis } from '../helpers/redis-server.ts';
import { until } from '../helpers/wait.ts';

describe('ChatHub: messages acknowledged during a Redis outage', () => {
  let db: TestDatabase;
  let server: PrivateRedis;
  let redis: Redis;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await PrivateRedis.start();
    // The production client settings: commands fail after a couple of retries while Redis is away.
    redis = createRedis(server.url);
    const shared = { VUTLER_REDIS_PREFIX: `t${randomBytes(6).toString('hex')}` };
    [a, b] = await Promise.all([
      startTestServer(db.pool, redis, shared),
      startTestServer(db.pool, redis, shared),
    ]);
  }, 30_000);
  afterAll(async () => {
    // Closing clients waits for Redis to answer QUIT: bring it back if a failed test left it down.
    if (server && !server.running) await server.start();
    await Promise.all([a?.close(), b?.close()]);
    redis?.disconnect();
    await server?.stop();
    await db?.drop();
  });

  it('reach every connected socket exactly once: this node’s at once, the other node’s when Redis returns', async () => {
    const [alice, bob] = await Promise.all([person(a.url, 'alice'), person(a.url, 'bob')]);
    const bobOnB = newClient(b.url);
    await bobOnB.login({ email: bob.email, passphrase: bob.passphrase });
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const onA: string[] = [];
    const onB: string[] = [];
    const text = (into: string[]) => (e: LiveEvent) =>
      e.type === 'message' && into.push(e.message.body?.text ?? '?');
    const liveA = await bob.client.live({ onEvent: text(onA) });
    const liveB = await bobOnB.live({ onEvent: text(onB) });
    await alice.client.chats.send(chat.id, 'before');
    await until(() => onA.length === 1 && onB.length === 1, 'delivery with Redis up');

    await server.stop();
    for (const t of ['during 1', 'during 2', 'during 3']) await alice.client.chats.send(chat.id, t);
    // The publishes failed on node A: its own sockets are caught up from PostgreSQL at once.
    await until(() => onA.length === 4, 'node A catching up after failed publishes', 15_000);
    expect(onB).toEqual(['before']);

    await server.start();
    // Node B lost its subscription with Redis: once it is back, B catches up too.
    await until(() => onB.length === 4, 'node B catching up once Redis is back', 20_000);
    await alice.client.chats.send(chat.id, 'after');
    await until(() => onA.length === 5 && onB.length === 5, 'live again');
    const expected = ['before', 'during 1', 'during 2', 'during 3', 'after'];
    expect(onA).toEqual(expected);
    expect(onB).toEqual(expected);
    liveA.close();
    liveB.close();
  }, 60_000);
});
