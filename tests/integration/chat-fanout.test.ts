import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/client/index.ts';
import { freePort } from '../../src/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { person } from '../helpers/people.ts';
import { until } from '../helpers/wait.ts';

interface Node {
  url: string;
  child: ChildProcess;
  log: () => string;
}

/** A real `vutler serve` process. */
async function startNode(env: Record<string, string>): Promise<Node> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vutler-node-'));
  const child = spawn(process.execPath, [path.resolve('bin/vutler.js'), 'serve'], {
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      VUTLER_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    },
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  child.once('exit', () => void rm(dataDir, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${port}`;
  // Two nodes start side by side, each compiling the TypeScript sources: on a loaded 2-core
  // machine that has taken over 20 s. The bound stays under the hook's 60 s.
  const deadline = Date.now() + 50_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node exited: ${log}`);
    const ok = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`node not ready: ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, child, log: () => log };
}

describe('two vutler serve processes sharing PostgreSQL and Redis', () => {
  let db: TestDatabase;
  let a: Node;
  let b: Node;
  beforeAll(async () => {
    db = await createTestDatabase();
    const shared = {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      VUTLER_REDIS_PREFIX: `fan${randomBytes(4).toString('hex')}`,
      VUTLER_SERVER_SECRET: randomBytes(32).toString('base64'),
      NODE_ENV: 'test',
    };
    [a, b] = await Promise.all([startNode(shared), startNode(shared)]);
  }, 60_000);
  afterAll(async () => {
    for (const n of [a, b]) {
      if (n && n.child.exitCode === null) {
        const exited = new Promise((r) => n.child.once('exit', r));
        n.child.kill('SIGTERM');
        await exited;
      }
    }
    await db?.drop();
  });

  it('delivers a message posted on one node to sockets on the other, both ways', async () => {
    const alice = await person(a.url, 'alice');
    const bobOnA = await person(a.url, 'bob');
    // Bob's device talks to node B only.
    const { newClient } = await import('../helpers/people.ts');
    const bob = newClient(b.url);
    await bob.login({ email: bobOnA.email, passphrase: bobOnA.passphrase });
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.user!.id] });

    const bobSeen: string[] = [];
    const aliceSeen: string[] = [];
    const bobLive = await bob.live({
      onEvent: (e: LiveEvent) => e.type === 'message' && bobSeen.push(e.message.body?.text ?? '?'),
    });
    const aliceLive = await alice.client.live({
      onEvent: (e: LiveEvent) =>
        e.type === 'message' && aliceSeen.push(e.message.body?.text ?? '?'),
    });
    await alice.client.chats.send(chat.id, 'from node A');
    await until(() => bobSeen.includes('from node A'), 'cross-node A→B');
    await bob.chats.send(chat.id, 'from node B');
    await until(() => aliceSeen.includes('from node B'), 'cross-node B→A');
    // Bob's own copy comes back on his socket too; his resume cursor counts it only once it has
    // arrived (closing before then, on a busy machine, would rightly replay it as a fourth).
    await until(() => bobSeen.includes('from node B'), 'own message back on node B');

    // Resume on the other node: Bob leaves B, misses three, comes back on A.
    const cursors = { ...bobLive.cursors };
    bobLive.close();
    await bobLive.closed;
    for (const t of ['x1', 'x2', 'x3']) await alice.client.chats.send(chat.id, t);
    const bobOnNodeA = newClient(a.url);
    await bobOnNodeA.login({ email: bobOnA.email, passphrase: bobOnA.passphrase });
    const replay: string[] = [];
    const again = await bobOnNodeA.live({
      cursors,
      onEvent: (e: LiveEvent) => e.type === 'message' && replay.push(e.message.body?.text ?? '?'),
    });
    await until(() => replay.length >= 3, 'replay on the other node');
    expect(replay).toEqual(['x1', 'x2', 'x3']);
    expect(bobSeen).toEqual(['from node A', 'from node B']);
    again.close();
    aliceLive.close();
  }, 60_000);
});
