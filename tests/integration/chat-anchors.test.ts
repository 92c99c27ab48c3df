import { describe, expect, it } from 'vitest';
import { ANCHOR_EVERY } from '../../src/client/chatlog.ts';
import type { ClientOptions } from '../../src/client/index.ts';
import { fingerprintDigest } from '../../src/crypto/identity.ts';
import { logAnchorToJson, signLogAnchor } from '../../src/crypto/log-anchor.ts';
import {
  membershipEntryHash,
  signMembershipEntry,
  verifyMembershipLogAnchored,
} from '../../src/crypto/membership.ts';
import { useTestServer } from '../helpers/app.ts';
import { rawApi } from '../helpers/auth.ts';
import { forgingFetch, jsonResponse, person, sameAccount } from '../helpers/people.ts';

type Person = Awaited<ReturnType<typeof person>>;

/**
 * Trust anchors (docs/CRYPTO.md): a device holding nothing checks signatures only from its
 * account's own signed anchor, or from the entry that added it. Everything after an anchor is
 * still checked; an anchor the account did not sign, or a log that does not hold the anchored
 * prefix, is refused. Each attack is done as a compromised server would (PostgreSQL writes or
 * forged answers), with a positive control.
 */
describe('Trust anchors: a new device verifies a long log from its newest anchor', () => {
  const t = useTestServer();

  /** The same account on a new device (an empty key store), optionally behind a forging proxy. */
  const newDevice = (p: Person, extra: Partial<ClientOptions> = {}) =>
    sameAccount(t.server.url, p, extra);

  const json = jsonResponse;
  const serveAnchor = (chatId: string, anchor: unknown) =>
    forgingFetch(async (path) =>
      path === `/api/chats/${chatId}/anchor` ? json({ anchor }) : undefined,
    );

  /** Alice's chat with Bob, rotated until its log has `length` entries. */
  async function chatOf(length: number) {
    const [alice, bob, mallory] = await Promise.all(
      ['alice', 'bob', 'mallory'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'group', memberIds: [bob!.id] });
    while ((await alice!.client.chats.membership(chat.id)).length < length)
      await alice!.client.chats.rotate(chat.id);
    return { alice: alice!, bob: bob!, mallory: mallory!, chat };
  }

  const anchorRows = async (chatId: string) =>
    (
      await t.db.pool.query(
        'SELECT user_id, length FROM chat_log_anchors WHERE chat_id = $1 ORDER BY user_id',
        [chatId],
      )
    ).rows as { user_id: string; length: number }[];

  it('checks signatures only after its own anchor, and still refuses a forged entry after it', async () => {
    const { alice, mallory, chat } = await chatOf(5);
    await alice.client.chats.publishAnchor(chat.id);
    expect(await anchorRows(chat.id)).toEqual([{ user_id: alice.id, length: 5 }]);
    await alice.client.chats.send(chat.id, 'after the anchor');

    const device = await newDevice(alice);
    expect((await device.chats.history(chat.id)).map((m) => [m.status, m.body?.text])).toEqual([
      ['ok', 'after the anchor'],
    ]);
    expect(device.chats.verification(chat.id)).toEqual({
      entries: 5,
      checkedFrom: 5,
      anchor: 'own',
    });
    expect((await device.chats.membership(chat.id)).epoch).toBe(3);

    // The server appends an entry after the anchor adding Mallory "by Alice", signed by Mallory.
    const held = await alice.client.chats.membership(chat.id);
    const forged = await signMembershipEntry(
      {
        chatId: chat.id,
        position: held.length,
        epoch: held.epoch,
        action: 'add',
        actorId: alice.id,
        subjectId: mallory.id,
        subjectFingerprint: await fingerprintDigest(mallory.client.identityPublic!),
        role: 'member',
        prevHash: held.head,
        keyCommitment: null,
      },
      mallory.client.identity!.ed25519.privateKey,
    );
    await t.db.pool.query(
      `INSERT INTO chat_log (chat_id, position, epoch, action, actor_id, subject_id, subject_fingerprint, role, prev_hash, key_commitment, signature, entry_hash)
       VALUES ($1, $2, $3, 'add', $4, $5, $6, 'member', $7, NULL, $8, $9)`,
      [
        chat.id,
        forged.position,
        forged.epoch,
        alice.id,
        mallory.id,
        Buffer.from(forged.subjectFingerprint),
        Buffer.from(forged.prevHash),
        Buffer.from(forged.signature),
        Buffer.from(await membershipEntryHash(forged)),
      ],
    );
    const another = await newDevice(alice);
    await expect(another.chats.membership(chat.id)).rejects.toMatchObject({ code: 'bad-log' });
    // Positive control: the entry is served, and only its signature stops it — an anchor
    // covering it (which only Alice's key could make) would have let Mallory in.
    const { body } = await rawApi(() => t.server.url).api(`/api/chats/${chat.id}/log?after=-1`, {
      headers: { authorization: `Bearer ${alice.client.session!.token}` },
    });
    const entries = body.entries as unknown[];
    expect(entries).toHaveLength(6);
    const { membershipEntryFromJson } = await import('../../src/crypto/membership.ts');
    const covered = await verifyMembershipLogAnchored(
      entries.map((e) => membershipEntryFromJson(chat.id, e)),
      {
        chatId: chat.id,
        keyOf: async () => new Uint8Array(32),
        trustedPrefix: { length: 6, head: await membershipEntryHash(forged) },
      },
    );
    expect(covered.state.members.has(mallory.id)).toBe(true);
  });

  it("refuses a forged anchor: another user's, another chat's, or not signed by the account", async () => {
    const { alice, bob, mallory, chat } = await chatOf(4);
    const other = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const head = (await alice.client.chats.membership(chat.id)).head;
    const signed = async (
      by: Person,
      over: Partial<{ chatId: string; userId: string; length: number; head: Uint8Array }> = {},
    ) =>
      logAnchorToJson(
        await signLogAnchor(
          { chatId: chat.id, userId: by.id, length: 4, head, ...over },
          by.client.identity!.ed25519.privateKey,
        ),
      );
    const otherState = await alice.client.chats.membership(other.id);
    const forgeries = {
      "Bob's own anchor": await signed(bob),
      "Alice's anchor of another chat": await signed(alice, {
        chatId: other.id,
        length: otherState.length,
        head: otherState.head,
      }),
      'an anchor made by Mallory in Alice’s name': await signed(mallory, { userId: alice.id }),
      garbage: { length: 4, head: 'AAAA', signature: 'AAAA' },
    };
    for (const [what, anchor] of Object.entries(forgeries)) {
      const device = await newDevice(alice, { fetch: serveAnchor(chat.id, anchor) });
      await expect(device.chats.membership(chat.id), what).rejects.toMatchObject({
        code: 'bad-anchor',
      });
    }
    // Positive control: Alice's genuine anchor, served the same way, is taken.
    const device = await newDevice(alice, { fetch: serveAnchor(chat.id, await signed(alice)) });
    await device.chats.membership(chat.id);
    expect(device.chats.verification(chat.id)).toMatchObject({ checkedFrom: 4, anchor: 'own' });

    // The server itself refuses to store any of them, and stores nothing for them.
    const { api, post } = rawApi(() => t.server.url);
    const put = (p: Person, anchor: unknown) =>
      api(`/api/chats/${chat.id}/anchor`, post(anchor, p.client.session!.token, 'PUT'));
    for (const anchor of [
      forgeries["Bob's own anchor"],
      await signed(alice, { head: new Uint8Array(32) }),
    ]) {
      const res = await put(alice, anchor);
      expect(res.status).toBe(400);
    }
    const bad = await put(alice, { length: 0, head: 'x', signature: 'y' });
    expect(bad.status).toBe(422);
    const stranger = await put(mallory, await signed(mallory));
    expect(stranger.status).toBe(404);
    expect(await anchorRows(chat.id)).toEqual([]);
    // A genuine one is stored; an older one sent later does not replace it.
    await alice.client.chats.publishAnchor(chat.id);
    const first = (await alice.client.chats.membership(chat.id)).hashes[0]!;
    const older = await put(alice, await signed(alice, { length: 1, head: first }));
    expect(older.status).toBe(200);
    expect(await anchorRows(chat.id)).toEqual([{ user_id: alice.id, length: 4 }]);
  });

  it('refuses a log that does not hold the prefix the account anchored (cut or rewritten)', async () => {
    const { alice, chat } = await chatOf(5);
    await alice.client.chats.publishAnchor(chat.id);
    // The server cuts the log back to 3 entries (and the epoch with it).
    await t.db.pool.query('DELETE FROM chat_log WHERE chat_id = $1 AND position >= 3', [chat.id]);
    const device = await newDevice(alice);
    await expect(device.chats.membership(chat.id)).rejects.toMatchObject({
      code: 'log-rollback',
    });
    // Positive control: with the anchor withheld, the cut log verifies — only the anchor shows it.
    const blind = await newDevice(alice, { fetch: serveAnchor(chat.id, null) });
    expect((await blind.chats.membership(chat.id)).length).toBe(3);
    // A genuine anchor of Alice's for a different history of this chat: the prefix differs.
    const fork = logAnchorToJson(
      await signLogAnchor(
        { chatId: chat.id, userId: alice.id, length: 3, head: new Uint8Array(32).fill(1) },
        alice.client.identity!.ed25519.privateKey,
      ),
    );
    const forked = await newDevice(alice, { fetch: serveAnchor(chat.id, fork) });
    await expect(forked.chats.membership(chat.id)).rejects.toMatchObject({ code: 'log-forked' });
  });

  it('starts a member added at the end from the entry that added them, and checks that entry', async () => {
    const { alice, chat } = await chatOf(6);
    const carol = await person(t.server.url, 'carol');
    await alice.client.chats.addMember(chat.id, carol.id);
    await alice.client.chats.send(chat.id, 'welcome carol');
    const device = await newDevice(carol);
    expect((await device.chats.history(chat.id)).map((m) => [m.status, m.body?.text])).toEqual([
      ['ok', 'welcome carol'],
    ]);
    expect(device.chats.verification(chat.id)).toEqual({
      entries: 7,
      checkedFrom: 6,
      anchor: 'added',
    });
    // The server swaps the signature of Carol's add for one over other bytes: refused.
    const { rows } = await t.db.pool.query(
      'SELECT signature FROM chat_log WHERE chat_id = $1 AND position = 6',
      [chat.id],
    );
    const sig = Buffer.from(rows[0].signature);
    sig[10]! ^= 1;
    await t.db.pool.query(
      'UPDATE chat_log SET signature = $2 WHERE chat_id = $1 AND position = 6',
      [chat.id, sig],
    );
    await expect((await newDevice(carol)).chats.membership(chat.id)).rejects.toMatchObject({
      code: 'bad-log',
    });
  });

  it('publishes an anchor in the background every ANCHOR_EVERY entries, never on the send path', async () => {
    const requests: string[] = [];
    const counting: ClientOptions['fetch'] = (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
      return fetch(input, init);
    };
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice', { fetch: counting }),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'first');
    requests.length = 0;
    await alice.client.chats.send(chat.id, 'second');
    expect(requests).toEqual([`POST /api/chats/${chat.id}/messages`]);
    expect(await anchorRows(chat.id)).toEqual([]);
    while ((await alice.client.chats.membership(chat.id)).length < ANCHOR_EVERY)
      await alice.client.chats.rotate(chat.id);
    await alice.client.chats.anchorsSettled();
    expect(await anchorRows(chat.id)).toEqual([{ user_id: alice.id, length: ANCHOR_EVERY }]);
    expect(requests.filter((r) => r.startsWith('PUT'))).toEqual([
      `PUT /api/chats/${chat.id}/anchor`,
    ]);
    requests.length = 0;
    await alice.client.chats.send(chat.id, 'third');
    expect(requests).toEqual([`POST /api/chats/${chat.id}/messages`]);
    // Bob's device verified the same log when he reads: it anchors for Bob too.
    await bob.client.chats.history(chat.id);
    await bob.client.chats.anchorsSettled();
    expect((await anchorRows(chat.id)).map((r) => r.length)).toEqual([ANCHOR_EVERY, ANCHOR_EVERY]);
    const device = await newDevice(alice);
    expect((await device.chats.history(chat.id)).map((m) => m.body?.text)).toEqual([
      'first',
      'second',
      'third',
    ]);
    expect(device.chats.verification(chat.id)).toMatchObject({ checkedFrom: ANCHOR_EVERY });
  });
});
