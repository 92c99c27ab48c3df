import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { serveApp, testConfig } from '../helpers/app.ts';
import { captureClientSecrets, dumpRedis, type Needle } from '../helpers/canary.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { person } from '../helpers/people.ts';
import { PrivateRedis } from '../helpers/redis-server.ts';
import { helloSocket } from '../helpers/ws.ts';

/**
 * After a full scenario (register, chat, messages, live delivery, agent token, passphrase
 * change, logout), no secret appears in `pg_dump`, in any Redis key or value (a private
 * redis-server, so every key is ours), or in the logs at trace level. A positive control plants
 * one needle in each store and checks the scan finds it, so an empty result means something.
 */
describe('canary scan', () => {
  let db: TestDatabase;
  let redisServer: PrivateRedis;
  let redis: Redis;
  let logs = '';
  let url = '';
  let close: () => Promise<void>;

  beforeAll(async () => {
    db = await createTestDatabase();
    redisServer = await PrivateRedis.start();
    redis = new Redis(redisServer.url);
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const vutler = createApp({
      config: testConfig({ LOG_LEVEL: 'trace' }),
      logger: createLogger('trace', sink),
      pool: db.pool as never,
      redis,
      secrets: { serverKey: new Uint8Array(randomBytes(32)) },
    });
    ({ url, close } = await serveApp(vutler));
  });

  afterAll(async () => {
    await close?.();
    redis?.disconnect();
    await redisServer?.stop();
    await db?.drop();
  });

  function pgDump(): string {
    return execFileSync('pg_dump', ['--data-only', '--inserts', db.url], {
      maxBuffer: 256 * 1024 * 1024,
    }).toString('latin1');
  }

  async function scan(needles: Needle[]): Promise<string[]> {
    const dump = pgDump();
    const r = await dumpRedis(redis);
    const stores = { postgres: dump, redis: r.text, logs };
    const found: string[] = [];
    for (const n of needles) {
      const v = typeof n.value === 'string' ? Buffer.from(n.value) : Buffer.from(n.value);
      const forms = [
        v.toString('latin1'),
        v.toString('hex'),
        v.toString('base64').replace(/=+$/, ''),
        v.toString('base64url'),
      ].filter((f) => f.length >= 8);
      for (const [store, text] of Object.entries(stores)) {
        if (forms.some((f) => text.includes(f))) found.push(`${n.label} in ${store}`);
      }
    }
    return found;
  }

  it('finds no plaintext, key, token or passphrase anywhere after a full scenario', async () => {
    const captured = captureClientSecrets();
    const needles: Needle[] = [];
    try {
      const alice = await person(url, 'alice');
      const bob = await person(url, 'bob');
      needles.push(
        { label: 'alice passphrase', value: alice.passphrase },
        { label: 'alice recovery phrase', value: alice.phrase },
        { label: 'bob passphrase', value: bob.passphrase },
        { label: 'alice session token', value: alice.client.session?.token as string },
      );
      const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
      const live = await helloSocket(
        `${url.replace('http', 'ws')}/ws`,
        bob.client.session?.token as string,
      );
      const text = `canary message ${randomBytes(8).toString('hex')}`;
      needles.push({ label: 'message plaintext', value: text });
      const sent = await alice.client.chats.send(chat.id, text);
      await live.frame((f) => (f.message as { id?: string })?.id === sent.id, 'live message');
      live.ws.close();
      const agent = await alice.client.createAgentToken({ agentName: 'canary-agent' });
      needles.push({ label: 'agent token', value: agent.token });
      await fetch(`${url}/api/agent/whoami`, {
        headers: { authorization: `Bearer ${agent.token}` },
      });
      await bob.client.logout();
    } finally {
      captured.restore();
    }
    needles.push(...captured.needles);
    expect(needles.length).toBeGreaterThan(10);
    expect(await scan(needles)).toEqual([]);

    // Positive control: one fresh needle planted in each store is found in that store.
    const planted = `planted-${randomBytes(12).toString('hex')}`;
    await redis.set(`control:${planted}`, '1');
    await db.pool.query('INSERT INTO users (email) VALUES ($1)', [`${planted}@example.com`]);
    logs += `{"msg":"${planted}"}\n`;
    expect((await scan([{ label: 'control', value: planted }])).sort()).toEqual([
      'control in logs',
      'control in postgres',
      'control in redis',
    ]);
  });
});
