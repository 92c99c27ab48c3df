import { describe, expect, it } from 'vitest';
import type { ClientOptions, LiveEvent } from '../../src/client/index.ts';
import { MemoryKeyStore } from '../../src/client/keystore.ts';
import { base64Decode } from '../../src/crypto/bytes.ts';
import { generateChatKey, unwrapChatKey, wrapChatKey } from '../../src/crypto/chatkeys.ts';
import { createIdentity, identityPublicToJson } from '../../src/crypto/identity.ts';
import { openMessage } from '../../src/crypto/messages.ts';
import { useTestServer } from '../helpers/app.ts';
import { creationLog } from '../helpers/chat.ts';
import { forgingFetch, jsonResponse, newClient, person, sameAccount } from '../helpers/people.ts';
import { until } from '../helpers/wait.ts';

type Person = Awaited<ReturnType<typeof person>>;

/**
 * Issue 8's attacks, each done the way a compromised server would (writes to PostgreSQL, or a
 * proxy forging API answers), each with a positive control showing the attack material is real
 * (it works against a device that forgot what it knew, or against the old acceptance rule).
 */
describe('Trust: a compromised server can neither read content nor add a reader', () => {
  const t = useTestServer();

  /** The same account on another client; the key store decides what that device remembers. */
  const again = (p: Person, extra: Partial<ClientOptions> = {}) =>
    sameAccount(t.server.url, p, extra);

  const json = jsonResponse;

  const count = async (sql: string, params: unknown[]) =>
    (await t.db.pool.query(sql, params)).rows[0].n as number;

  it('A: refuses a chat key the server injects with a member row, a new epoch and its own wrap', async () => {
    const [alice, bob, mallory] = await Promise.all(
      ['alice', 'bob', 'mallory'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'group', memberIds: [bob!.id] });
    await alice!.client.chats.send(chat.id, 'before');
    // The server's account becomes a (removed) member, epoch 1 appears, and it wraps a key it
    // knows to Bob and Alice.
    await t.db.pool.query(
      "INSERT INTO chat_members (chat_id, user_id, role, joined_epoch, removed_at) VALUES ($1, $2, 'member', 0, now())",
      [chat.id, mallory!.id],
    );
    await t.db.pool.query('UPDATE chats SET current_epoch = 1 WHERE id = $1', [chat.id]);
    await t.db.pool.query(
      'INSERT INTO chat_epochs (chat_id, epoch, created_by) VALUES ($1, 1, $2)',
      [chat.id, mallory!.id],
    );
    const k1 = await generateChatKey(chat.id, 1);
    const malloryKey = {
      id: mallory!.id,
      signingKey: mallory!.client.identity!.ed25519.privateKey,
    };
    for (const p of [alice!, bob!]) {
      const wrap = await wrapChatKey(
        k1,
        { memberId: p.id, x25519PublicKey: p.client.identityPublic!.x25519PublicKey },
        malloryKey,
      );
      await t.db.pool.query(
        "INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params, chat_id, epoch, wrapped_by) VALUES ($1, 'session', $2, '{}', $3, 1, $4)",
        [p.id, Buffer.from(wrap), chat.id, mallory!.id],
      );
    }
    // Positive control: under the old rule (wrapper among the server's members or former
    // members, wrap signed by that wrapper) this wrap is accepted and opens to the server's key.
    const serverView = await bob!.client.chats.get(chat.id);
    expect(serverView.formerMembers.map((m) => m.userId)).toContain(mallory!.id);
    expect(serverView.currentEpoch).toBe(1);
    const { rows } = await t.db.pool.query(
      "SELECT encrypted_key FROM encryption_keys WHERE chat_id = $1 AND user_id = $2 AND epoch = 1 AND key_type = 'session'",
      [chat.id, bob!.id],
    );
    const opened = await unwrapChatKey({
      chatId: chat.id,
      epoch: 1,
      envelope: rows[0].encrypted_key,
      member: { id: bob!.id, x25519: bob!.client.identity!.x25519 },
      wrapper: {
        id: mallory!.id,
        ed25519PublicKey: mallory!.client.identityPublic!.ed25519PublicKey,
      },
      commitment: k1.commitment,
    });
    expect(opened.commitment).toEqual(k1.commitment);

    // Now: the key is refused, and sending does not move to the server's epoch.
    await expect(bob!.client.chats.key(chat.id, 1)).rejects.toMatchObject({
      name: 'VutlerClientError',
      code: 'unknown-epoch',
    });
    await expect(bob!.client.chats.send(chat.id, 'secret for bob')).rejects.toMatchObject({
      code: 'unverified-epoch',
    });
    expect(
      await count('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1 AND epoch = 1', [
        chat.id,
      ]),
    ).toBe(0);
    // Forging a log entry for Mallory (signed by her, claimed by Alice or herself) fails too.
    const log = await bob!.client.chats.membership(chat.id);
    const { membershipEntryHash, signMembershipEntry } = await import(
      '../../src/crypto/membership.ts'
    );
    const { fingerprintDigest } = await import('../../src/crypto/identity.ts');
    for (const actorId of [alice!.id, mallory!.id]) {
      const forged = await signMembershipEntry(
        {
          chatId: chat.id,
          position: log.length,
          epoch: 0,
          action: 'add',
          actorId,
          subjectId: mallory!.id,
          subjectFingerprint: await fingerprintDigest(mallory!.client.identityPublic!),
          role: 'member',
          prevHash: log.head,
          keyCommitment: null,
        },
        mallory!.client.identity!.ed25519.privateKey,
      );
      await t.db.pool.query(
        `INSERT INTO chat_log (chat_id, position, epoch, action, actor_id, subject_id, subject_fingerprint, role, prev_hash, key_commitment, signature, entry_hash)
         VALUES ($1, $2, 0, 'add', $3, $4, $5, 'member', $6, NULL, $7, $8)`,
        [
          chat.id,
          log.length,
          actorId,
          mallory!.id,
          Buffer.from(forged.subjectFingerprint),
          Buffer.from(forged.prevHash),
          Buffer.from(forged.signature),
          Buffer.from(await membershipEntryHash(forged)),
        ],
      );
      bob!.client.chats.hint(chat.id);
      await expect(bob!.client.chats.sync(chat.id)).rejects.toMatchObject({ code: 'bad-log' });
      await t.db.pool.query('DELETE FROM chat_log WHERE chat_id = $1 AND position = $2', [
        chat.id,
        log.length,
      ]);
    }
  });

  it('B: a substituted identity key is a hard identity-changed error once pinned; on first contact the safety numbers differ', async () => {
    const store = new MemoryKeyStore();
    let forge = false;
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice', {
        keyStore: store,
      }),
      person(t.server.url, 'bob'),
    ]);
    // The server's own key pair, self-signed for Bob's id.
    const mk = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    const fake = await createIdentity(mk, bob.id);
    const fetchImpl = forgingFetch(async (path) =>
      forge && path === `/api/users/${bob.id}/keys`
        ? json({ identity: identityPublicToJson(fake.publicIdentity) })
        : undefined,
    );
    // Alice has chatted with Bob on this device: his real key is pinned.
    await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    forge = true;
    const aliceAgain = await again(alice, { keyStore: store, fetch: fetchImpl });
    await expect(
      aliceAgain.chats.create({ kind: 'group', memberIds: [bob.id] }),
    ).rejects.toMatchObject({ name: 'VutlerClientError', code: 'identity-changed' });
    await expect(aliceAgain.trust.safetyNumber(bob.id)).rejects.toMatchObject({
      code: 'identity-changed',
    });
    expect(
      await count('SELECT count(*)::int AS n FROM chats WHERE created_by = $1', [alice.id]),
    ).toBe(1);
    const pins = await aliceAgain.trust.pins();
    expect(pins.find((p) => p.userId === bob.id)).toMatchObject({
      source: 'first-use',
      verified: false,
    });

    // Positive control: a device with a cleared key store takes the fake key on first contact
    // and would wrap to it; here only the honest server's own check (the log entry names a key
    // Bob never registered) stops it, and comparing safety numbers shows it.
    const fresh = await again(alice, { keyStore: new MemoryKeyStore(), fetch: fetchImpl });
    const taken = await fresh.trust.identityOf(bob.id);
    expect(taken.identity.x25519PublicKey).toEqual(fake.publicIdentity.x25519PublicKey);
    await expect(fresh.chats.create({ kind: 'group', memberIds: [bob.id] })).rejects.toMatchObject({
      status: 400,
      type: 'bad-log-entry',
    });
    const seenByAlice = await fresh.trust.safetyNumber(bob.id);
    const seenByBob = await bob.client.trust.safetyNumber(alice.id);
    expect(seenByAlice).not.toBe(seenByBob);
    await expect(fresh.trust.markVerified(bob.id, seenByBob)).rejects.toMatchObject({
      code: 'safety-number-mismatch',
    });
    // Without the forgery both sides agree and the pin becomes verified.
    expect(await alice.client.trust.safetyNumber(bob.id)).toBe(seenByBob);
    expect(await alice.client.trust.markVerified(bob.id, seenByBob)).toMatchObject({
      verified: true,
    });
  });

  it('C: an epoch rollback after a removal is refused, live and on a later session of the same device', async () => {
    const bobStore = new MemoryKeyStore();
    const [alice, bob, carol] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob', { keyStore: bobStore }),
      person(t.server.url, 'carol'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id, carol.id] });
    await bob.client.chats.send(chat.id, 'epoch 0');
    const carolKey0 = await carol.client.chats.key(chat.id, 0);
    const before = (await alice.client.chats.membership(chat.id)).length;
    await alice.client.chats.removeMember(chat.id, carol.id);
    expect((await bob.client.chats.send(chat.id, 'carol is out')).epoch).toBe(1);
    // The server rolls back: epoch 0 current again, Carol back. The 409 names epoch 0; the
    // log Bob verified says 1 — he does not follow.
    await t.db.pool.query('UPDATE chats SET current_epoch = 0 WHERE id = $1', [chat.id]);
    await t.db.pool.query('UPDATE chat_members SET removed_at = NULL WHERE chat_id = $1', [
      chat.id,
    ]);
    await expect(bob.client.chats.send(chat.id, 'for bob and alice only')).rejects.toMatchObject({
      code: 'unverified-epoch',
    });
    // It also cuts the removal from the log: the same session notices on its next re-fetch…
    await t.db.pool.query('DELETE FROM chat_log WHERE chat_id = $1 AND position >= $2', [
      chat.id,
      before,
    ]);
    bob.client.chats.hint(chat.id);
    await expect(bob.client.chats.send(chat.id, 'for bob and alice only')).rejects.toMatchObject({
      code: 'log-rollback',
    });
    // …and so does a later session on the same device: its stored head is past the server's log.
    const bobLater = await again(bob, { keyStore: bobStore });
    await expect(bobLater.chats.send(chat.id, 'for bob and alice only')).rejects.toMatchObject({
      name: 'VutlerClientError',
      code: 'log-rollback',
    });
    expect(
      await count('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [chat.id]),
    ).toBe(2);

    // Positive control: with a cleared key store Bob follows the rollback, and Carol reads him.
    const bobFresh = await again(bob, { keyStore: new MemoryKeyStore() });
    const leaked = await bobFresh.chats.send(chat.id, 'carol should not read this');
    expect(leaked.epoch).toBe(0);
    const body = await openMessage({
      chatKey: carolKey0,
      header: {
        messageId: leaked.id,
        sender: { kind: 'user', userId: bob.id },
        chain: {
          chainId: base64Decode(leaked.chain!.id),
          counter: leaked.chain!.counter,
          prev: base64Decode(leaked.chain!.prev),
        },
        mentions: [],
        decryptionPermissions: {},
      },
      encryptedContent: base64Decode(leaked.ciphertext!),
      signature: base64Decode(leaked.signature!),
      signerEd25519PublicKey: bob.client.identityPublic!.ed25519PublicKey,
    });
    expect(body.body.text).toBe('carol should not read this');
  });

  it('D: dropped, reordered, replayed, fake-deleted and edited messages are reported as such', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const sent: Awaited<ReturnType<typeof alice.client.chats.send>>[] = [];
    for (let i = 0; i < 6; i++) sent.push(await alice.client.chats.send(chat.id, `m${i}`));
    const bobs = await bob.client.chats.send(chat.id, 'no agents here', {
      decryptionPermissions: { agents: 'deny' },
    });
    // Control: the untouched history is all ok and in order.
    const clean = await (await again(bob)).chats.history(chat.id);
    expect(clean.map((m) => [m.status, m.sequence])).toEqual(
      Array.from({ length: 7 }, () => ['ok', 'in-order']),
    );
    // Real deletion by Alice: a signed tombstone.
    await alice.client.chats.deleteMessage(chat.id, sent[5]!.id);
    // The server: drops m2, swaps m0 and m1, blanks m4 as if deleted, and edits Bob's policy
    // and mentions.
    await t.db.pool.query('DELETE FROM messages WHERE id = $1', [sent[2]!.id]);
    await t.db.pool.query('UPDATE messages SET seq = -1 WHERE id = $1', [sent[0]!.id]);
    await t.db.pool.query('UPDATE messages SET seq = $2 WHERE id = $1', [
      sent[1]!.id,
      sent[0]!.seq,
    ]);
    await t.db.pool.query('UPDATE messages SET seq = $2 WHERE id = $1', [
      sent[0]!.id,
      sent[1]!.seq,
    ]);
    await t.db.pool.query(
      'UPDATE messages SET encrypted_content = NULL, deleted_at = now() WHERE id = $1',
      [sent[4]!.id],
    );
    await t.db.pool.query(
      `UPDATE messages SET mentions = '{claude}', decryption_permissions = '{"agents":"allow"}' WHERE id = $1`,
      [bobs.id],
    );
    const seen = await (await again(bob)).chats.history(chat.id);
    const byId = new Map(seen.map((m) => [m.id, m]));
    expect(byId.get(sent[1]!.id)).toMatchObject({ status: 'ok', sequence: 'in-order' });
    expect(byId.get(sent[0]!.id)).toMatchObject({ status: 'ok', sequence: 'reordered' });
    expect(byId.get(sent[2]!.id)).toBeUndefined();
    expect(byId.get(sent[3]!.id)).toMatchObject({ status: 'ok', sequence: 'gap', missing: 1 });
    expect(byId.get(sent[4]!.id)).toMatchObject({ status: 'tampered' });
    expect(byId.get(sent[5]!.id)).toMatchObject({ status: 'deleted' });
    expect(byId.get(bobs.id)).toMatchObject({ status: 'rejected' });
    expect(byId.get(bobs.id)?.body).toBeUndefined();

    // Replay: a proxy serves Alice's m3 a second time further down the page.
    const replaying = await again(bob, {
      fetch: forgingFetch(async (path, res) => {
        if (path !== `/api/chats/${chat.id}/messages`) return undefined;
        const page = (await res.json()) as { messages: { id: string; seq: number }[] };
        const m3 = page.messages.find((m) => m.id === sent[3]!.id)!;
        page.messages.push({ ...m3, seq: m3.seq + 100 });
        return json(page);
      }),
    });
    const replayed = await replaying.chats.history(chat.id);
    expect(replayed.at(-1)).toMatchObject({ id: sent[3]!.id, sequence: 'replayed' });
  });

  it('lets members given different keys for one epoch detect it (key commitment)', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => person(t.server.url, n)),
    );
    const id = crypto.randomUUID();
    const real = await generateChatKey(id, 0);
    const other = await generateChatKey(id, 0);
    const log = await creationLog(alice!, [bob!, carol!], real);
    const signer = { id: alice!.id, signingKey: alice!.client.identity!.ed25519.privateKey };
    const wrapFor = async (p: Person, key: typeof real) => ({
      userId: p.id,
      wrap: Buffer.from(
        await wrapChatKey(
          key,
          { memberId: p.id, x25519PublicKey: p.client.identityPublic!.x25519PublicKey },
          signer,
        ),
      ).toString('base64'),
    });
    // Bob's wrap holds another key, dressed in the real commitment (what a lying wrapper does).
    const keyWraps = [
      await wrapFor(alice!, real),
      await wrapFor(bob!, { ...other, commitment: real.commitment }),
      await wrapFor(carol!, real),
    ];
    const res = await fetch(`${t.server.url}/api/chats`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${alice!.client.session!.token}`,
      },
      body: JSON.stringify({ id, kind: 'group', keyWraps, log }),
    });
    expect(res.status).toBe(201);
    await alice!.client.chats.send(id, 'one key for all');
    await expect(bob!.client.chats.key(id, 0)).rejects.toMatchObject({
      name: 'VutlerClientError',
      code: 'key-commitment-mismatch',
    });
    expect((await bob!.client.chats.history(id))[0]).toMatchObject({ status: 'rejected' });
    // Control: Carol, given the committed key, reads it.
    expect((await carol!.client.chats.history(id))[0]).toMatchObject({
      status: 'ok',
      body: { text: 'one key for all' },
    });
  });

  it('keeps a device restored from the phrase trusting what the logs vouch for, and nothing else', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    await bob.client.chats.send(chat.id, 'hi from bob');
    // A new device, nothing in its key store: it re-pins Bob from the log Alice signed.
    const restored = newClient(t.server.url, { keyStore: new MemoryKeyStore() });
    await restored.recover({
      email: alice.email,
      phrase: alice.phrase,
      newPassphrase: 'new pass 1',
    });
    expect((await restored.chats.history(chat.id)).map((m) => [m.status, m.body?.text])).toEqual([
      ['ok', 'hi from bob'],
    ]);
    expect((await restored.trust.pins()).find((p) => p.userId === bob.id)).toMatchObject({
      source: 'log',
    });
    // Another new device, with the server handing out its own key for Bob: the log Alice signed
    // names Bob's real key, so the substitute is refused for reading and for wrapping.
    const mk = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    const fake = await createIdentity(mk, bob.id);
    const forged = newClient(t.server.url, {
      keyStore: new MemoryKeyStore(),
      fetch: forgingFetch(async (path) =>
        path === `/api/users/${bob.id}/keys`
          ? json({ identity: identityPublicToJson(fake.publicIdentity) })
          : undefined,
      ),
    });
    await forged.recover({ email: alice.email, phrase: alice.phrase, newPassphrase: 'new pass 2' });
    const seen = await forged.chats.history(chat.id);
    expect(seen[0]).toMatchObject({ status: 'rejected' });
    expect(seen[0]!.reason).toMatch(/not the one/);
    await expect(forged.chats.rotate(chat.id)).rejects.toMatchObject({ code: 'identity-changed' });
  });

  it('takes a key.rotated event only as a hint: a forged one moves nothing', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    await bob.client.chats.send(chat.id, 'before');
    const events: LiveEvent[] = [];
    const live = await bob.client.live({ onEvent: (e) => events.push(e) });
    try {
      // The server announces a rotation that the log does not contain.
      await t.server.vutler.services.chatEvents.publish({
        type: 'key.rotated',
        chatId: chat.id,
        epoch: 7,
        by: alice.id,
      });
      await until(() => events.some((e) => e.type === 'key.rotated'), 'forged key.rotated');
      const sent = await bob.client.chats.send(chat.id, 'still epoch 0');
      expect(sent.epoch).toBe(0);
      expect((await bob.client.chats.membership(chat.id)).epoch).toBe(0);
      // A real rotation is picked up from the log after the hint.
      await alice.client.chats.rotate(chat.id);
      await until(
        () => events.filter((e) => e.type === 'key.rotated').length >= 2,
        'real key.rotated',
      );
      expect((await bob.client.chats.send(chat.id, 'epoch 1 now')).epoch).toBe(1);
    } finally {
      live.close();
    }
  });

  it('keeps the chains of two devices of one user apart', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const laptop = await again(alice, { keyStore: new MemoryKeyStore() });
    for (let i = 0; i < 3; i++) {
      await alice.client.chats.send(chat.id, `phone ${i}`);
      await laptop.chats.send(chat.id, `laptop ${i}`);
    }
    const seen = await bob.client.chats.history(chat.id);
    expect(seen.map((m) => [m.status, m.sequence])).toEqual(
      Array.from({ length: 6 }, () => ['ok', 'in-order']),
    );
    const chains = new Set(
      (
        await t.db.pool.query('SELECT chain_id FROM messages WHERE chat_id = $1', [chat.id])
      ).rows.map((r) => Buffer.from(r.chain_id).toString('hex')),
    );
    expect(chains.size).toBe(2);
  });

  it('follows honest membership changes made by others without trusting the server for them', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'group', memberIds: [bob!.id] });
    await bob!.client.chats.send(chat.id, 'bob holds the log now');
    await alice!.client.chats.addMember(chat.id, carol!.id);
    await carol!.client.chats.send(chat.id, 'carol joined');
    expect((await bob!.client.chats.history(chat.id)).map((m) => [m.status, m.body?.text])).toEqual(
      [
        ['ok', 'bob holds the log now'],
        ['ok', 'carol joined'],
      ],
    );
    // Bob's view of the members comes from the log he verified, with Alice's add in it.
    expect((await bob!.client.chats.members(chat.id)).map((m) => m.userId).sort()).toEqual(
      [alice!.id, bob!.id, carol!.id].sort(),
    );
  });

  it('sends with one request once the chat is known: the chain head is kept locally', async () => {
    const requests: string[] = [];
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice', {
        fetch: (input, init) => {
          requests.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
          return fetch(input, init);
        },
      }),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'first');
    requests.length = 0;
    await alice.client.chats.send(chat.id, 'second');
    await alice.client.chats.send(chat.id, 'third');
    expect(requests).toEqual([
      `POST /api/chats/${chat.id}/messages`,
      `POST /api/chats/${chat.id}/messages`,
    ]);
    expect((await bob.client.chats.history(chat.id)).map((m) => m.sequence)).toEqual([
      'in-order',
      'in-order',
      'in-order',
    ]);
  });

  it('reads a first page on a new device with the log asked for beside the page, not after it', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'hello');
    // The page's answer is held back until the log has been asked for (at most 5 s): a client
    // that asked for the log only after the page would wait out the 5 s and fail.
    let logAsked!: () => void;
    const asked = new Promise<void>((resolve) => {
      logAsked = resolve;
    });
    const device = await again(bob, {
      fetch: async (input, init) => {
        const path = new URL(input).pathname;
        if (path === `/api/chats/${chat.id}/log`) logAsked();
        const res = await fetch(input, init);
        if (path === `/api/chats/${chat.id}/messages` && (init?.method ?? 'GET') === 'GET') {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            asked,
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('the page came before the log')), 5000);
            }),
          ]).finally(() => clearTimeout(timer));
        }
        return res;
      },
    });
    expect((await device.chats.history(chat.id)).map((m) => [m.status, m.body?.text])).toEqual([
      ['ok', 'hello'],
    ]);
  });

  it("checks an agent's message against the gateway key pinned on the device, not the server's word", async () => {
    const { gatewayPublicKeysToJson, generateGatewayKeys } = await import(
      '../../src/crypto/grants.ts'
    );
    const { sealMessage } = await import('../../src/crypto/messages.ts');
    const { uuidv7 } = await import('../../src/crypto/uuid.ts');
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const [gateway, impostor] = await Promise.all([generateGatewayKeys(), generateGatewayKeys()]);
    // What the gateway branch's post path will store: an agent message on Alice's behalf.
    const id = uuidv7();
    const chain = { chainId: new Uint8Array(16).fill(3), counter: 0, prev: new Uint8Array(32) };
    const sealed = await sealMessage({
      chatKey: await alice.client.chats.key(chat.id, 0),
      header: {
        messageId: id,
        sender: { kind: 'agent', agentName: 'claude', onBehalfOf: alice.id },
        chain,
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text: 'summary from claude', replyTo: null, attachments: [] },
      signingKey: gateway.keys.ed25519.privateKey,
    });
    await t.db.pool.query('UPDATE chats SET last_seq = last_seq + 1 WHERE id = $1', [chat.id]);
    await t.db.pool.query(
      `INSERT INTO messages (id, chat_id, sender_id, sender_agent, seq, epoch, encrypted_content, signature, chain_id, chain_counter, chain_prev)
       VALUES ($1, $2, $3, 'claude', (SELECT last_seq FROM chats WHERE id = $2), 0, $4, $5, $6, 0, $7)`,
      [
        id,
        chat.id,
        alice.id,
        Buffer.from(sealed.encryptedContent),
        Buffer.from(sealed.signature),
        Buffer.from(chain.chainId),
        Buffer.from(chain.prev),
      ],
    );
    expect((await bob.client.chats.history(chat.id))[0]).toMatchObject({ status: 'rejected' });
    await bob.client.device().setGatewayKeys(gatewayPublicKeysToJson(impostor.keys));
    expect((await bob.client.chats.history(chat.id))[0]).toMatchObject({ status: 'rejected' });
    await bob.client.device().setGatewayKeys(gatewayPublicKeysToJson(gateway.keys));
    expect((await bob.client.chats.history(chat.id))[0]).toMatchObject({
      status: 'ok',
      body: { text: 'summary from claude' },
    });
  });
});
