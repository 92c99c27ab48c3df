import { describe, expect, it } from 'vitest';
import { AccessRepository, AccessService } from '../../src/access/index.ts';
import { AppendQueue } from '../../src/chat/append-queue.ts';
import {
  type AppendInput,
  ChatRepository,
  type MessageRow,
} from '../../src/chat/chat.repository.ts';
import { ChatService, StaleEpochError } from '../../src/chat/chat.service.ts';
import { type ChatEvent, ChatEvents, type HubListener } from '../../src/chat/events.ts';
import { NotFoundError } from '../../src/errors.ts';
import { silentLogger, testRedis, useTestServer } from '../helpers/app.ts';
import { sealedPost } from '../helpers/chat.ts';
import { person } from '../helpers/people.ts';

/**
 * The per-chat append queue (src/chat/append-queue.ts): messages that queue up behind one
 * chat's append go into PostgreSQL together, in one statement, and each still gets the outcome
 * it would have had alone.
 */
describe(AppendQueue.name, () => {
  const t = useTestServer();
  const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  type Sealed = Awaited<ReturnType<typeof sealedPost>>;
  const input = (p: Sealed) => ({
    id: p.id,
    epoch: p.epoch,
    ciphertext: bytes(p.ciphertext),
    signature: bytes(p.signature),
    chain: { id: bytes(p.chain.id), counter: p.chain.counter, prev: bytes(p.chain.prev) },
    mentions: p.mentions,
    decryptionPermissions: {},
  });
  const appendInput = (p: Sealed, chatId: string, senderId: string): AppendInput => ({
    ...input(p),
    chatId,
    senderId,
  });

  /** Holds the chat's row lock in a transaction of its own until `release` is called. */
  async function holdChat(chatId: string, first?: AppendInput) {
    const c = await t.db.pool.connect();
    await c.query('BEGIN');
    if (first) expect(await new ChatRepository(c).appendMessage(first)).toBeDefined();
    else await c.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
    return async () => {
      await c.query('COMMIT');
      c.release();
    };
  }

  /** Until `n` other backends of this database wait for a lock. */
  async function lockWaiters(n: number) {
    for (let i = 0; i < 250; i++) {
      const { rows } = await t.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (rows[0]!.n >= n) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${n} lock waiter(s)`);
  }

  it('stores what queued behind one append in one statement, each message with its own outcome', async () => {
    const [alice, bob, carol] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
      person(t.server.url, 'carol'),
    ]);
    const chat = await alice.client.chats.create({
      kind: 'group',
      memberIds: [bob.id, carol.id],
    });
    const fromCarol = await sealedPost(carol, chat.id, 'carol, before she was removed');
    const staleFromBob = await sealedPost(bob, chat.id, 'bob, on the old epoch');
    await alice.client.chats.removeMember(chat.id, carol.id);
    const now = { epoch: 1 };
    const early = await sealedPost(alice, chat.id, 'early', now);
    const chats = new ChatService(
      t.db.pool,
      new ChatEvents(t.redis, `aq${Date.now()}`, silentLogger),
      new AccessService(new AccessRepository(t.db.pool)),
    );
    expect((await chats.post(chat.id, alice.id, input(early))).created).toBe(true);
    const fresh = await Promise.all([
      sealedPost(alice, chat.id, 'one', now),
      sealedPost(bob, chat.id, 'two, for the agent', { ...now, mentions: ['claude'] }),
      sealedPost(alice, chat.id, 'three', now),
    ]);

    const release = await holdChat(chat.id);
    const heads = await Promise.all([
      sealedPost(bob, chat.id, 'head of the queue', now),
      sealedPost(alice, chat.id, 'second in line', now),
    ]);
    // Two statements of the chat wait for its row lock in PostgreSQL (the queue's depth);
    // everything after them waits in the queue.
    const headPosts = [
      chats.post(chat.id, bob.id, input(heads[0]!)),
      chats.post(chat.id, alice.id, input(heads[1]!)),
    ];
    await lockWaiters(2);
    const outcomes = Promise.allSettled([
      chats.post(chat.id, alice.id, input(fresh[0]!)),
      chats.post(chat.id, bob.id, input(fresh[1]!)),
      chats.post(chat.id, alice.id, input(fresh[0]!)), // a retry, in the same batch
      chats.post(chat.id, carol.id, input(fromCarol)), // no longer a member
      chats.post(chat.id, bob.id, input(staleFromBob)), // epoch 0, the chat is on 1
      chats.post(chat.id, alice.id, input(early)), // a retry of a stored message
      chats.post(chat.id, alice.id, input(fresh[2]!)),
    ]);
    await release();
    for (const h of await Promise.all(headPosts)) expect(h.created).toBe(true);
    const [one, two, retry, carols, stale, again, three] = await outcomes;

    expect(one).toMatchObject({ status: 'fulfilled', value: { created: true } });
    expect(two).toMatchObject({ status: 'fulfilled', value: { created: true } });
    expect(three).toMatchObject({ status: 'fulfilled', value: { created: true } });
    expect(retry).toMatchObject({ status: 'fulfilled', value: { created: false } });
    expect(again).toMatchObject({ status: 'fulfilled', value: { created: false } });
    expect(carols.status === 'rejected' && carols.reason).toBeInstanceOf(NotFoundError);
    expect(stale.status === 'rejected' && stale.reason).toBeInstanceOf(StaleEpochError);
    const value = (o: PromiseSettledResult<{ message: { id: string; seq: number } }>) =>
      o.status === 'fulfilled' ? o.value.message : undefined;
    // A retry answers with the stored message, not a new one.
    expect(value(retry)).toEqual(value(one));

    const { rows } = await t.db.pool.query<{ id: string; seq: number; tx: string }>(
      'SELECT id, seq::int AS seq, xmin::text AS tx FROM messages WHERE chat_id = $1 ORDER BY seq',
      [chat.id],
    );
    // Gap-free, each once.
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows[0]!.id).toBe(early.id);
    expect(
      (await t.db.pool.query('SELECT last_seq::int AS s FROM chats WHERE id = $1', [chat.id]))
        .rows[0].s,
    ).toBe(6);
    // The three queued behind the heads committed together, in the order they were posted and
    // in consecutive seqs; each head alone. (The second head and the batch may take the lock in
    // either order once the first head commits: PostgreSQL does not queue them.)
    const batch = rows.filter((r) => fresh.some((p) => p.id === r.id));
    expect(batch.map((r) => r.id)).toEqual(fresh.map((p) => p.id));
    expect(batch[2]!.seq - batch[0]!.seq).toBe(2);
    expect(new Set(batch.map((r) => r.tx)).size).toBe(1);
    expect(new Set(rows.map((r) => r.tx)).size).toBe(4);
    // The mention became exactly one outbox row, for its own message.
    const outbox = await t.db.pool.query<{ payload: { messageId: string; agentName: string } }>(
      `SELECT payload FROM outbox WHERE payload->>'chatId' = $1`,
      [chat.id],
    );
    expect(outbox.rows.map((r) => r.payload)).toEqual([
      expect.objectContaining({ messageId: fresh[1]!.id, agentName: 'claude', userId: bob.id }),
    ]);
    const stored = await chats.history(chat.id, alice.id, {}, 50);
    expect(stored.find((m) => m.id === fresh[1]!.id)?.mentions).toEqual(['claude']);
  });

  it('appends one by one when an id of the batch is stored meanwhile by another node', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    const [x, y] = await Promise.all([
      sealedPost(alice, chat.id, 'x'),
      sealedPost(bob, chat.id, 'y'),
    ]);
    const published: MessageRow[][] = [];
    const queue = new AppendQueue(t.db.pool, async (rows) => void published.push(rows));
    // "Another node" has stored x, uncommitted, and holds the chat row.
    const release = await holdChat(chat.id, appendInput(x, chat.id, alice.id));
    // Same tick: one statement for both, which waits for the lock with a snapshot without x.
    const both = Promise.all([
      queue.append(appendInput(x, chat.id, alice.id)),
      queue.append(appendInput(y, chat.id, bob.id)),
    ]);
    await lockWaiters(1);
    await release();
    const [gotX, gotY] = await both;
    expect(gotX).toBeUndefined();
    expect(gotY).toMatchObject({ id: y.id, seq: '2' });
    expect(published).toEqual([[expect.objectContaining({ id: y.id, seq: '2' })]]);
    const { rows } = await t.db.pool.query<{ id: string; seq: number }>(
      'SELECT id, seq::int AS seq FROM messages WHERE chat_id = $1 ORDER BY seq',
      [chat.id],
    );
    expect(rows).toEqual([
      { id: x.id, seq: 1 },
      { id: y.id, seq: 2 },
    ]);
  });
});

describe('ChatEvents.publishMany', () => {
  const created = (chatId: string, seq: number) =>
    ({
      type: 'message.created',
      chatId,
      message: { id: `m${seq}`, chatId, seq },
    }) as unknown as ChatEvent;

  function listener() {
    const heard: { event: ChatEvent; raw?: string }[] = [];
    const failed: ChatEvent[] = [];
    const l: HubListener = {
      onEvent: (event, raw) => void heard.push({ event, raw }),
      onSessionsRevoked: () => undefined,
      onResubscribed: () => undefined,
      onPublishFailed: (event) => void failed.push(event),
    };
    return { l, heard, failed };
  }

  it('delivers a batch in order, and hands each event to the listeners when Redis is gone', async () => {
    const redis = testRedis();
    const events = new ChatEvents(redis, `pm${Date.now()}`, silentLogger);
    const { l, heard, failed } = listener();
    const unsubscribe = await events.subscribe(l);
    try {
      const batch = [1, 2, 3].map((seq) => created('c1', seq));
      await events.publishMany(batch);
      for (let i = 0; i < 100 && heard.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      expect(heard.map((h) => h.event)).toEqual(batch);
      expect(heard.map((h) => JSON.parse(h.raw!))).toEqual(batch);
      expect(failed).toEqual([]);

      redis.disconnect();
      const lost = [4, 5].map((seq) => created('c1', seq));
      await events.publishMany(lost);
      expect(failed).toEqual(lost);
    } finally {
      await unsubscribe();
      redis.disconnect();
    }
  });
});
