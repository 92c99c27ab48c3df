import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { creationLog, sealedPost } from '../helpers/chat.ts';
import { person } from '../helpers/people.ts';

describe('Vchat: encrypted chats over REST', () => {
  const t = useTestServer();

  it('lets Alice, Bob and Carol chat, then locks Carol out after her removal', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({
      kind: 'group',
      memberIds: [bob!.id, carol!.id],
    });
    expect(chat.members.map((m) => m.userId).sort()).toEqual(
      [alice!.id, bob!.id, carol!.id].sort(),
    );
    await alice!.client.chats.send(chat.id, 'hello all');
    await bob!.client.chats.send(chat.id, 'hi alice');
    await carol!.client.chats.send(chat.id, 'hey');
    for (const p of [alice!, bob!, carol!]) {
      const h = await p.client.chats.history(chat.id);
      expect(h.map((m) => [m.status, m.body?.text])).toEqual([
        ['ok', 'hello all'],
        ['ok', 'hi alice'],
        ['ok', 'hey'],
      ]);
    }
    const carolEpoch0 = await carol!.client.chats.key(chat.id, 0);

    const rotated = await alice!.client.chats.removeMember(chat.id, carol!.id);
    expect(rotated.currentEpoch).toBe(1);
    expect(rotated.members.map((m) => m.userId)).not.toContain(carol!.id);
    const after = await alice!.client.chats.send(chat.id, 'carol cannot read this');
    expect(after.epoch).toBe(1);
    expect((await bob!.client.chats.history(chat.id)).at(-1)?.body?.text).toBe(
      'carol cannot read this',
    );

    // Carol: no access through the t.server...
    await expect(carol!.client.chats.history(chat.id)).rejects.toMatchObject({ status: 404 });
    await expect(carol!.client.http.request(`/api/chats/${chat.id}/keys`)).rejects.toMatchObject({
      status: 404,
    });
    // ...and none with the ciphertext itself: her old key does not open the new epoch.
    const { openMessage } = await import('../../src/crypto/messages.ts');
    const { rows } = await t.db.pool.query(
      'SELECT encrypted_content, signature, chain_id, chain_counter, chain_prev FROM messages WHERE id = $1',
      [after.id],
    );
    await expect(
      openMessage({
        chatKey: { ...carolEpoch0, epoch: 1 },
        header: {
          messageId: after.id,
          sender: { kind: 'user', userId: alice!.id },
          chain: {
            chainId: rows[0].chain_id,
            counter: Number(rows[0].chain_counter),
            prev: rows[0].chain_prev,
          },
          mentions: [],
          decryptionPermissions: {},
        },
        encryptedContent: rows[0].encrypted_content,
        signature: rows[0].signature,
        signerEd25519PublicKey: alice!.client.identityPublic!.ed25519PublicKey,
      }),
    ).rejects.toMatchObject({ name: 'CryptoError' });
  });

  async function api(path: string, token: string | undefined, init: RequestInit = {}) {
    const res = await fetch(t.server.url + path, {
      ...init,
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  const sealed = sealedPost;

  it('rejects a message whose signature names another sender (forged sender)', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    // Bob signs a message claiming to be from Alice and posts it.
    const forged = await sealed(bob, chat.id, 'I am alice', { senderId: alice.id });
    const r = await api(`/api/chats/${chat.id}/messages`, bob.client.session!.token, {
      method: 'POST',
      body: JSON.stringify(forged),
    });
    expect(r.status).toBe(400);
    expect(r.body.type).toBe('urn:vutler:problem:bad-signature');
    // Bob's own valid message posted through Alice's session is not Alice's either.
    const bobs = await sealed(bob, chat.id, 'mine');
    const r2 = await api(`/api/chats/${chat.id}/messages`, alice.client.session!.token, {
      method: 'POST',
      body: JSON.stringify(bobs),
    });
    expect(r2.status).toBe(400);
    expect(
      (
        await t.db.pool.query('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [
          chat.id,
        ])
      ).rows[0].n,
    ).toBe(0);
  });

  it('answers 409 stale-epoch for a message on an old epoch; the client retries on the new one', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [bob.id] });
    const old = await sealed(bob, chat.id, 'on epoch 0', { epoch: 0 });
    await alice.client.chats.rotate(chat.id);
    const r = await api(`/api/chats/${chat.id}/messages`, bob.client.session!.token, {
      method: 'POST',
      body: JSON.stringify(old),
    });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ type: 'urn:vutler:problem:stale-epoch', currentEpoch: 1 });
    const sent = await bob.client.chats.send(chat.id, 'after rotation');
    expect(sent.epoch).toBe(1);
    expect((await alice.client.chats.history(chat.id)).map((m) => m.body?.text)).toEqual([
      'after rotation',
    ]);
    // A rotation that is not exactly current + 1 loses the race: 409 too.
    const { generateChatKey } = await import('../../src/crypto/chatkeys.ts');
    const { fingerprintDigest } = await import('../../src/crypto/identity.ts');
    const { membershipEntryToJson, signMembershipEntry } = await import(
      '../../src/crypto/membership.ts'
    );
    const state = await alice.client.chats.sync(chat.id);
    const k = await generateChatKey(chat.id, 1);
    const rotate = await signMembershipEntry(
      {
        chatId: chat.id,
        position: state.length,
        epoch: 1,
        action: 'rotate',
        actorId: alice.id,
        subjectId: alice.id,
        subjectFingerprint: await fingerprintDigest(alice.client.identityPublic!),
        role: '',
        prevHash: state.head,
        keyCommitment: k.commitment,
      },
      alice.client.identity!.ed25519.privateKey,
    );
    const stale = await api(`/api/chats/${chat.id}/epochs`, alice.client.session!.token, {
      method: 'POST',
      body: JSON.stringify({
        entries: [membershipEntryToJson(rotate)],
        keyWraps: [{ userId: alice.id, wrap: Buffer.alloc(157).toString('base64') }],
      }),
    });
    expect(stale.status).toBe(409);
    expect([400, 409]).toContain(stale.status);
  });

  it('keeps a message id idempotent: the same message twice is stored once, another under its id is 409', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const m = await sealed(alice, chat.id, 'once');
    const path = `/api/chats/${chat.id}/messages`;
    const first = await api(path, alice.client.session!.token, {
      method: 'POST',
      body: JSON.stringify(m),
    });
    const again = await api(path, alice.client.session!.token, {
      method: 'POST',
      body: JSON.stringify(m),
    });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.message.seq).toBe(first.body.message.seq);
    const other = await sealed(alice, chat.id, 'different');
    const clash = await api(path, alice.client.session!.token, {
      method: 'POST',
      body: JSON.stringify({ ...other, id: m.id }),
    });
    // The signature binds the id, so re-signing under m.id is what a real clash looks like.
    expect([400, 409]).toContain(clash.status);
    expect(
      (
        await t.db.pool.query('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [
          chat.id,
        ])
      ).rows[0].n,
    ).toBe(1);
  });

  it('answers a non-member exactly as for a chat that does not exist', async () => {
    const [alice, bob, eve] = await Promise.all(
      ['alice', 'bob', 'eve'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'direct', memberIds: [bob!.id] });
    const ghost = '0190f2a0-0000-7000-8000-000000000000';
    const eveToken = eve!.client.session!.token;
    for (const suffix of ['', '/messages', '/keys']) {
      const real = await api(`/api/chats/${chat.id}${suffix}`, eveToken);
      const none = await api(`/api/chats/${ghost}${suffix}`, eveToken);
      const bad = await api(`/api/chats/not-a-uuid${suffix}`, eveToken);
      expect([real.status, none.status, bad.status]).toEqual([404, 404, 404]);
      expect(real.body.detail).toBe(none.body.detail);
    }
    const msg = await sealed(alice!, chat.id, 'x');
    const post = await api(`/api/chats/${chat.id}/messages`, eveToken, {
      method: 'POST',
      body: JSON.stringify(msg),
    });
    expect(post.status).toBe(404);
  });

  it('refuses bad input with 4xx and stores nothing', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const token = alice.client.session!.token;
    const path = `/api/chats/${chat.id}/messages`;
    const good = await sealed(alice, chat.id, 'fine');
    const cases: Array<[string, number]> = [
      [JSON.stringify({ ...good, ciphertext: Buffer.alloc(70 * 1024).toString('base64') }), 413],
      [JSON.stringify({ ...good, ciphertext: Buffer.alloc(200 * 1024).toString('base64') }), 413],
      ['{"id": ', 400],
      [JSON.stringify({ ...good, id: '11111111-1111-4111-8111-111111111111' }), 422],
      [JSON.stringify({ ...good, signature: 'short' }), 422],
      [JSON.stringify({ ...good, ciphertext: 'AQ==' }), 400],
      [JSON.stringify({ ...good, epoch: -1 }), 422],
      [JSON.stringify({ ...good, mentions: ['Not An Agent!'] }), 422],
      [JSON.stringify({ ...good, senderId: bob.id }), 422],
    ];
    for (const [body, status] of cases) {
      const r = await api(path, token, { method: 'POST', body });
      expect(r.status, body.slice(0, 60)).toBe(status);
    }
    expect(
      (
        await api('/api/chats/0190f2a0-0000-7000-8000-000000000000/messages', token, {
          method: 'POST',
          body: JSON.stringify(good),
        })
      ).status,
    ).toBe(404);
    expect(
      (await t.db.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n,
    ).toBeGreaterThanOrEqual(0);
    expect(
      (
        await t.db.pool.query('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [
          chat.id,
        ])
      ).rows[0].n,
    ).toBe(0);
  });

  it('records one outbox row per mentioned agent, carrying ids only', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const m = await alice.client.chats.send(chat.id, '@claude summarise the secret plan', {
      mentions: ['claude', 'claude', 'helper'],
    });
    const { rows } = await t.db.pool.query(
      "SELECT queue, job_name, payload FROM outbox WHERE payload->>'messageId' = $1 ORDER BY payload->>'agentName'",
      [m.id],
    );
    expect(rows).toEqual([
      {
        queue: 'agent-runs',
        job_name: 'agent-run',
        payload: { chatId: chat.id, messageId: m.id, agentName: 'claude', userId: alice.id },
      },
      {
        queue: 'agent-runs',
        job_name: 'agent-run',
        payload: { chatId: chat.id, messageId: m.id, agentName: 'helper', userId: alice.id },
      },
    ]);
    expect(JSON.stringify(rows)).not.toContain('secret plan');
  });

  it('rejects on the client a key wrap the server injected, for an epoch outside the log, by a non-member, misattributed or unsigned', async () => {
    const [alice, bob, mallory] = await Promise.all(
      ['alice', 'bob', 'mallory'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'group', memberIds: [bob!.id] });
    const { generateChatKey, wrapChatKey } = await import('../../src/crypto/chatkeys.ts');
    const bobX = bob!.client.identityPublic!.x25519PublicKey;
    const malloryKey = {
      id: mallory!.id,
      signingKey: mallory!.client.identity!.ed25519.privateKey,
    };
    const setWrap = async (epoch: number, wrap: Uint8Array, wrappedBy: string) => {
      await t.db.pool.query(
        "DELETE FROM encryption_keys WHERE chat_id = $1 AND user_id = $2 AND epoch = $3 AND key_type = 'session'",
        [chat.id, bob!.id, epoch],
      );
      await t.db.pool.query(
        "INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params, chat_id, epoch, wrapped_by) VALUES ($1, 'session', $2, '{}', $3, $4, $5)",
        [bob!.id, Buffer.from(wrap), chat.id, epoch, wrappedBy],
      );
    };
    // 1. A whole new epoch the server made up (row in chat_epochs, current_epoch, a wrap by a
    //    member row it added for Mallory): not in the signed log, so there is no such epoch.
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
    await setWrap(
      1,
      await wrapChatKey(k1, { memberId: bob!.id, x25519PublicKey: bobX }, malloryKey),
      mallory!.id,
    );
    await expect(bob!.client.chats.key(chat.id, 1)).rejects.toMatchObject({
      code: 'unknown-epoch',
    });
    // 2. Epoch 0 is real, but the wrap is Mallory's: the log never made her a member.
    const k0 = await generateChatKey(chat.id, 0);
    await setWrap(
      0,
      await wrapChatKey(k0, { memberId: bob!.id, x25519PublicKey: bobX }, malloryKey),
      mallory!.id,
    );
    await expect(bob!.client.chats.key(chat.id, 0)).rejects.toMatchObject({
      code: 'untrusted-wrap',
    });
    // 3. Signed by Mallory but attributed to Alice (a member).
    await setWrap(
      0,
      await wrapChatKey(k0, { memberId: bob!.id, x25519PublicKey: bobX }, malloryKey),
      alice!.id,
    );
    await expect(bob!.client.chats.key(chat.id, 0)).rejects.toMatchObject({
      code: 'untrusted-wrap',
    });
    // 4. No valid signature at all (zeroed signature bytes).
    const unsigned = await wrapChatKey(
      k0,
      { memberId: bob!.id, x25519PublicKey: bobX },
      { id: alice!.id, signingKey: alice!.client.identity!.ed25519.privateKey },
    );
    unsigned.fill(0, unsigned.length - 64);
    await setWrap(0, unsigned, alice!.id);
    await expect(bob!.client.chats.key(chat.id, 0)).rejects.toMatchObject({
      code: 'untrusted-wrap',
    });
    // Messages under an injected key are never shown as valid.
    const { sealMessage } = await import('../../src/crypto/messages.ts');
    const { uuidv7 } = await import('../../src/crypto/uuid.ts');
    const id = uuidv7();
    const chain = { chainId: new Uint8Array(16), counter: 0, prev: new Uint8Array(32) };
    const s = await sealMessage({
      chatKey: k1,
      header: {
        messageId: id,
        sender: { kind: 'user', userId: alice!.id },
        chain,
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text: 'injected', replyTo: null, attachments: [] },
      signingKey: mallory!.client.identity!.ed25519.privateKey,
    });
    await t.db.pool.query('UPDATE chats SET last_seq = last_seq + 1 WHERE id = $1', [chat.id]);
    await t.db.pool.query(
      'INSERT INTO messages (id, chat_id, sender_id, seq, epoch, encrypted_content, signature, chain_id, chain_counter, chain_prev) VALUES ($1, $2, $3, (SELECT last_seq FROM chats WHERE id = $2), 1, $4, $5, $6, 0, $7)',
      [
        id,
        chat.id,
        alice!.id,
        Buffer.from(s.encryptedContent),
        Buffer.from(s.signature),
        Buffer.from(chain.chainId),
        Buffer.from(chain.prev),
      ],
    );
    const history = await bob!.client.chats.history(chat.id);
    expect(history.at(-1)).toMatchObject({ id, status: 'rejected' });
    expect(history.at(-1)?.body).toBeUndefined();
  });

  it('refuses at the server a wrap its stated wrapper did not sign', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const { generateChatKey, wrapChatKey } = await import('../../src/crypto/chatkeys.ts');
    const id = crypto.randomUUID();
    const key = await generateChatKey(id, 0);
    const wrapsByBob = await Promise.all(
      [alice, bob].map(async (p) => ({
        userId: p.id,
        wrap: Buffer.from(
          await wrapChatKey(
            key,
            { memberId: p.id, x25519PublicKey: p.client.identityPublic!.x25519PublicKey },
            { id: bob.id, signingKey: bob.client.identity!.ed25519.privateKey },
          ),
        ).toString('base64'),
      })),
    );
    const log = await creationLog(alice, [bob], key);
    const r = await api('/api/chats', alice.client.session!.token, {
      method: 'POST',
      body: JSON.stringify({ id, kind: 'direct', keyWraps: wrapsByBob, log }),
    });
    expect(r.status).toBe(400);
    expect(r.body.type).toBe('urn:vutler:problem:bad-signature');
    expect(
      (await t.db.pool.query('SELECT count(*)::int AS n FROM chats WHERE id = $1', [id])).rows[0].n,
    ).toBe(0);
  });

  it('refuses a bad membership log with 4xx and stores nothing', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const { generateChatKey, wrapChatKey } = await import('../../src/crypto/chatkeys.ts');
    const id = crypto.randomUUID();
    const key = await generateChatKey(id, 0);
    const log = await creationLog(alice, [bob], key);
    const keyWraps = await Promise.all(
      [alice, bob].map(async (p) => ({
        userId: p.id,
        wrap: Buffer.from(
          await wrapChatKey(
            key,
            { memberId: p.id, x25519PublicKey: p.client.identityPublic!.x25519PublicKey },
            { id: alice.id, signingKey: alice.client.identity!.ed25519.privateKey },
          ),
        ).toString('base64'),
      })),
    );
    const token = alice.client.session!.token;
    const post = (body: unknown) =>
      api('/api/chats', token, { method: 'POST', body: JSON.stringify(body) });
    const base = { id, kind: 'group', keyWraps, log };
    const cases: [unknown, number, string?][] = [
      [{ ...base, log: [log[1]] }, 409, 'stale-log'],
      [{ ...base, log: [log[0], { ...log[1], role: 'admin' }] }, 400],
      [{ ...base, log: [log[0], { ...log[1], action: 'promote' }] }, 400, 'bad-log-entry'],
      [{ ...base, log: [log[0], { ...log[1], signature: 'AAAA' }] }, 422],
      [
        { ...base, log: [log[0], { ...log[1], subjectFingerprint: log[0]!.subjectFingerprint }] },
        400,
        'bad-log-entry',
      ],
      [{ ...base, log: [log[0]] }, 400],
      [{ ...base, log: [] }, 422],
    ];
    for (const [body, status, type] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      if (type) expect(r.body.type).toBe(`urn:vutler:problem:${type}`);
    }
    expect(
      (await t.db.pool.query('SELECT count(*)::int AS n FROM chat_log WHERE chat_id = $1', [id]))
        .rows[0].n,
    ).toBe(0);
    expect((await post(base)).status).toBe(201);
    expect((await post(base)).body.type).toBe('urn:vutler:problem:conflict');
    expect((await api(`/api/chats/${id}/log?after=x`, token)).status).toBe(422);
    const entries = (await api(`/api/chats/${id}/log?after=0`, token)).body.entries;
    expect(entries.map((e: { position: number }) => e.position)).toEqual([1]);
    expect(
      (await api(`/api/chats/${id}/log`, bob.client.session!.token)).body.entries,
    ).toHaveLength(2);
  });

  it('deletes only your own message, for everyone', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const m = await alice.client.chats.send(chat.id, 'oops');
    // Bob signs a tombstone for Alice's message: not his to delete.
    const { messageHash, signTombstone } = await import('../../src/crypto/messages.ts');
    const forged = await signTombstone(
      {
        chatId: chat.id,
        messageId: m.id,
        sender: { kind: 'user', userId: alice.id },
        chainId: Buffer.from(m.chain!.id, 'base64'),
        counter: m.chain!.counter,
        hash: await messageHash(Buffer.from(m.signature!, 'base64')),
      },
      bob.client.identity!.ed25519.privateKey,
    );
    const path = `/api/chats/${chat.id}/messages/${m.id}`;
    const tomb = JSON.stringify({ tombstone: Buffer.from(forged).toString('base64') });
    expect(
      (await api(path, bob.client.session!.token, { method: 'DELETE', body: tomb })).status,
    ).toBe(404);
    expect(
      (await api(path, alice.client.session!.token, { method: 'DELETE', body: tomb })).status,
    ).toBe(400);
    expect([400, 415, 422]).toContain(
      (await api(path, alice.client.session!.token, { method: 'DELETE' })).status,
    );
    await alice.client.chats.deleteMessage(chat.id, m.id);
    expect((await bob.client.chats.history(chat.id))[0]).toMatchObject({
      id: m.id,
      status: 'deleted',
    });
    const { rows } = await t.db.pool.query('SELECT encrypted_content FROM messages WHERE id = $1', [
      m.id,
    ]);
    expect(rows[0].encrypted_content).toBeNull();
  });

  it('hands a newcomer older epochs on request (history), each checked against the log', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'group', memberIds: [bob!.id] });
    await alice!.client.chats.send(chat.id, 'epoch 0');
    await alice!.client.chats.rotate(chat.id);
    await bob!.client.chats.send(chat.id, 'epoch 1');
    await bob!.client.chats.addMember(chat.id, carol!.id, { history: true });
    const seen = await carol!.client.chats.history(chat.id);
    expect(seen.map((m) => [m.epoch, m.status, m.body?.text])).toEqual([
      [0, 'ok', 'epoch 0'],
      [1, 'ok', 'epoch 1'],
    ]);
  });

  it('pages history by seq cursor', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    for (let i = 1; i <= 7; i++) await alice.client.chats.send(chat.id, `m${i}`);
    const latest = await bob.client.chats.history(chat.id, { limit: 3 });
    expect(latest.map((m) => m.body?.text)).toEqual(['m5', 'm6', 'm7']);
    const older = await bob.client.chats.history(chat.id, { before: latest[0]!.seq, limit: 3 });
    expect(older.map((m) => m.body?.text)).toEqual(['m2', 'm3', 'm4']);
    const newer = await bob.client.chats.history(chat.id, { after: 5, limit: 10 });
    expect(newer.map((m) => m.body?.text)).toEqual(['m6', 'm7']);
  });

  it('leaves no message plaintext or chat key in any PostgreSQL table or Redis key (canary scan)', async () => {
    const { captureClientSecrets, findSecrets } = await import('../helpers/canary.ts');
    const capture = captureClientSecrets();
    const canaries = Array.from({ length: 4 }, (_, i) => `canary-${i}-${crypto.randomUUID()}`);
    try {
      const [alice, bob, carol] = await Promise.all(
        ['alice', 'bob', 'carol'].map((n) => person(t.server.url, n)),
      );
      const chat = await alice!.client.chats.create({
        kind: 'group',
        memberIds: [bob!.id, carol!.id],
      });
      await alice!.client.chats.send(chat.id, canaries[0]!, { mentions: ['claude'] });
      await bob!.client.chats.send(chat.id, canaries[1]!);
      await alice!.client.chats.removeMember(chat.id, carol!.id);
      await bob!.client.chats.send(chat.id, canaries[2]!);
      const live = await bob!.client.live({ onEvent: () => undefined });
      await alice!.client.chats.send(chat.id, canaries[3]!);
      expect((await bob!.client.chats.history(chat.id)).map((m) => m.body?.text)).toEqual(canaries);
      live.close();
    } finally {
      capture.restore();
    }
    const chatKeys = capture.needles.filter((n) => n.label === 'random-32');
    expect(chatKeys.length).toBeGreaterThanOrEqual(2 + 3);
    const needles = [...capture.needles, ...canaries.map((c) => ({ label: c, value: c }))];
    expect(await findSecrets(t.db.pool, t.redis, needles)).toEqual([]);
  });
});
