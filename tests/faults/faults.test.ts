import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealedPost } from '../helpers/chat.ts';
import { clusterEnv, startServeNodes, VutlerProcess } from '../helpers/cluster.ts';
import { person } from '../helpers/people.ts';
import { PrivatePostgres } from '../helpers/pg-server.ts';
import { PrivateRedis } from '../helpers/redis-server.ts';
import { rawSocket } from '../helpers/ws.ts';

/**
 * Under a steady stream of messages: `kill -9` a serve node and the worker, restart Redis empty,
 * restart PostgreSQL without a checkpoint. Every service is the suite's own (its redis-server,
 * its initdb'd cluster, its `vutler` processes). Afterwards every acknowledged message is stored
 * once and delivered live once, and the nodes are ready again with nobody touching them.
 */
const MESSAGES = Number(process.env.FAULT_MESSAGES ?? 240);

type Post = Awaited<ReturnType<typeof sealedPost>>;

async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('faults under load', () => {
  let pgServer: PrivatePostgres;
  let redis: PrivateRedis;
  let nodes: VutlerProcess[];
  let worker: VutlerProcess;

  beforeAll(async () => {
    pgServer = await PrivatePostgres.create();
    redis = await PrivateRedis.start();
    const env = clusterEnv(pgServer.url, redis.url);
    nodes = await startServeNodes(2, env);
    worker = new VutlerProcess('worker', env);
    await worker.start();
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...(nodes ?? []), worker].map((p) => p?.kill()));
    await redis?.stop();
    await pgServer?.destroy();
  });

  const ready = async (n: VutlerProcess) =>
    fetch(`${n.url}/ready`).then(
      (r) => r.status === 200,
      () => false,
    );

  it('loses nothing acknowledged and stores and delivers nothing twice', async () => {
    const alice = await person(nodes[0]!.url, 'alice');
    const bob = await person(nodes[0]!.url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const posts: Post[] = [];
    for (let i = 0; i < MESSAGES; i++) posts.push(await sealedPost(alice, chat.id, `m${i}`));

    // Bob listens live on whichever node answers, resuming from his last seq after a drop.
    const delivered = new Map<string, number>();
    let lastSeq = 0;
    let listening = true;
    const listen = (async () => {
      let n = 1;
      while (listening) {
        const node = nodes[n++ % 2]!;
        const s = rawSocket(`${node.url.replace('http', 'ws')}/ws`);
        s.ws.on('message', (d) => {
          const f = JSON.parse(d.toString()) as {
            type: string;
            message?: { id: string; seq: number };
          };
          if (f.type === 'message.created' && f.message) {
            delivered.set(f.message.id, (delivered.get(f.message.id) ?? 0) + 1);
            lastSeq = Math.max(lastSeq, Number(f.message.seq));
          }
        });
        s.ws.on('error', () => undefined);
        const opened = await s.open.then(
          () => true,
          () => false,
        );
        if (opened)
          s.ws.send(
            JSON.stringify({
              type: 'hello',
              token: bob.client.session?.token,
              cursors: { [chat.id]: lastSeq },
            }),
          );
        await Promise.race([s.closed, until('stop listening', () => !listening, 600_000)]);
        s.ws.terminate();
        if (listening) await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const acknowledged = new Set<string>();
    let next = 0;
    let attempts = 0;
    const send = async (p: Post) => {
      const deadline = Date.now() + 90_000;
      for (let k = 0; Date.now() < deadline; k++) {
        const node = nodes[(next + k) % 2]!;
        attempts++;
        const res = await fetch(`${node.url}/api/chats/${chat.id}/messages`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${alice.client.session?.token}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(p),
          signal: AbortSignal.timeout(5_000),
        }).catch(() => undefined);
        if (res && res.status < 300) {
          acknowledged.add(p.id);
          return;
        }
        // A 4xx other than "try again" would be the app refusing a valid message: a bug.
        if (
          res &&
          res.status >= 400 &&
          res.status < 500 &&
          res.status !== 429 &&
          res.status !== 409
        )
          throw new Error(`message refused: ${res.status} ${await res.text()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const load = (async () => {
      while (next < posts.length) {
        const p = posts[next++]!;
        await send(p);
      }
    })();
    const acked = (n: number) => until(`${n} acknowledged`, () => acknowledged.size >= n, 120_000);
    const step = Math.floor(MESSAGES / 6);

    await acked(step);
    await nodes[0]!.kill();
    await acked(2 * step);
    await nodes[0]!.start();
    await worker.kill();
    await worker.start();

    await redis.stop();
    await redis.start(); // empty: a flush and a restart at once
    await acked(3 * step);

    await pgServer.stop('immediate');
    await new Promise((r) => setTimeout(r, 500));
    await pgServer.start();
    await acked(4 * step);

    await load;
    // Nobody restarts anything by hand: both nodes say ready on their own.
    for (const n of nodes) await until(`${n.url} ready`, () => ready(n), 60_000);
    await until('every acknowledged message delivered live', () =>
      [...acknowledged].every((id) => delivered.has(id)),
    );
    listening = false;
    await listen;

    const db = new pg.Client({ connectionString: pgServer.url });
    await db.connect();
    const { rows } = await db.query<{ id: string; seq: string; c: Buffer }>(
      'SELECT id, seq, encrypted_content AS c FROM messages WHERE chat_id = $1',
      [chat.id],
    );
    await db.end();
    const stored = new Set(rows.map((r) => r.id));
    const lost = [...acknowledged].filter((id) => !stored.has(id));
    const duplicatedRows =
      rows.length -
      new Set(rows.map((r) => r.c.toString('base64'))).size +
      (rows.length - new Set(rows.map((r) => r.seq)).size);
    const duplicatedLive = [...delivered.values()].filter((n) => n > 1).length;
    console.log(
      `faults: sent ${posts.length} (${attempts} attempts), acknowledged ${acknowledged.size}, ` +
        `stored ${rows.length}, duplicated ${duplicatedRows} stored / ${duplicatedLive} live, ` +
        `lost ${lost.length}`,
    );
    expect(acknowledged.size).toBe(posts.length);
    expect(lost).toEqual([]);
    expect(duplicatedRows).toBe(0);
    expect(duplicatedLive).toBe(0);
    // Unacknowledged sends may or may not have landed; nothing else may be there.
    expect(rows.every((r) => posts.some((p) => p.id === r.id))).toBe(true);
  });
});
