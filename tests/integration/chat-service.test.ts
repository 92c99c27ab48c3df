import { describe, expect, it } from 'vitest';
import { AccessRepository, AccessService } from '../../src/access/index.ts';
import { ChatService, StaleEpochError } from '../../src/chat/chat.service.ts';
import { ChatEvents } from '../../src/chat/events.ts';
import { silentLogger, useTestServer } from '../helpers/app.ts';
import { sealedPost } from '../helpers/chat.ts';
import { person } from '../helpers/people.ts';

/** The service against the real database, below HTTP (Immich's "medium" tests). */
describe(ChatService.name, () => {
  const t = useTestServer();
  const service = () =>
    new ChatService(
      t.db.pool,
      new ChatEvents(t.redis, `svc${Date.now()}`, silentLogger),
      new AccessService(new AccessRepository(t.db.pool)),
    );
  const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  const input = (p: Awaited<ReturnType<typeof sealedPost>>) => ({
    id: p.id,
    epoch: p.epoch,
    ciphertext: bytes(p.ciphertext),
    signature: bytes(p.signature),
    chain: { id: bytes(p.chain.id), counter: p.chain.counter, prev: bytes(p.chain.prev) },
    mentions: p.mentions,
    decryptionPermissions: {},
  });

  it('gives concurrent posts to one chat distinct, gap-free seqs and stores each once', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    const posts = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sealedPost(i % 2 ? bob : alice, chat.id, `m${i}`).then((p) => ({
          p,
          sender: i % 2 ? bob.id : alice.id,
        })),
      ),
    );
    const chats = service();
    // Every message three times at once: retries must not duplicate nor fail.
    const results = await Promise.all(
      posts.flatMap(({ p, sender }) => [0, 1, 2].map(() => chats.post(chat.id, sender, input(p)))),
    );
    expect(results.filter((r) => r.created)).toHaveLength(30);
    const { rows } = await t.db.pool.query(
      'SELECT seq::int AS seq FROM messages WHERE chat_id = $1 ORDER BY seq',
      [chat.id],
    );
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const { p } of posts) {
      const seqs = new Set(results.filter((r) => r.message.id === p.id).map((r) => r.message.seq));
      expect(seqs.size).toBe(1);
    }
  });

  it('rejects a message on a stale epoch, racing a rotation', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    const old = await Promise.all(
      Array.from({ length: 10 }, (_, i) => sealedPost(bob, chat.id, `old ${i}`)),
    );
    const chats = service();
    const outcomes = await Promise.allSettled([
      ...old.slice(0, 5).map((p) => chats.post(chat.id, bob.id, input(p))),
      alice.client.chats.rotate(chat.id),
      ...old.slice(5).map((p) => chats.post(chat.id, bob.id, input(p))),
    ]);
    const refused = outcomes.filter((o) => o.status === 'rejected');
    for (const r of refused)
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StaleEpochError);
    // Whatever was stored on epoch 0 was stored before the rotation committed.
    const { rows } = await t.db.pool.query(
      `SELECT m.seq::int AS seq, m.epoch FROM messages m WHERE m.chat_id = $1 ORDER BY seq`,
      [chat.id],
    );
    expect(rows.every((r) => r.epoch === 0)).toBe(true);
    // A retry of each old message: the stored ones are idempotent, the others stay refused.
    for (const [i, p] of old.entries()) {
      const retry = chats.post(chat.id, bob.id, input(p));
      if (outcomes[i < 5 ? i : i + 1]!.status === 'fulfilled') {
        await expect(retry).resolves.toMatchObject({ created: false });
      } else {
        await expect(retry).rejects.toBeInstanceOf(StaleEpochError);
      }
    }
    expect(rows).toHaveLength(outcomes.filter((o) => o.status === 'fulfilled').length - 1);
    const late = await sealedPost(bob, chat.id, 'late', { epoch: 0 });
    await expect(chats.post(chat.id, bob.id, input(late))).rejects.toBeInstanceOf(StaleEpochError);
  });
});
