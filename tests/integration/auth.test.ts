import { hkdfSync, randomBytes } from 'node:crypto';
import { mnemonicToEntropy } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { describe, expect, it } from 'vitest';
import { VutlerApiError, VutlerClient, VutlerClientError } from '../../src/client/index.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
} from '../../src/crypto/primitives.ts';
import { useTestServer } from '../helpers/app.ts';
import { captureClientSecrets, findSecrets } from '../helpers/canary.ts';

const CHEAP = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const PASS = 'correct horse battery staple ☃';

/** The recovery key pair's private seed, computed independently of src/crypto (CRYPTO.md §1). */
function recoverySeed(phrase: string): Uint8Array {
  const info = Buffer.concat([Buffer.from('vutler/v1/recovery-signing'), Buffer.of(0)]);
  const entropy = mnemonicToEntropy(phrase, wordlist);
  return new Uint8Array(hkdfSync('sha256', entropy, Buffer.alloc(0), info, 32));
}

describe('accounts, E2E setup, recovery and agent tokens', () => {
  const t = useTestServer();
  /** Every request body a client sent, to prove the passphrase never left it. */
  const sentBodies: string[] = [];

  function client() {
    return new VutlerClient({
      baseUrl: t.server.url,
      kdfCost: CHEAP,
      allowWeakKdf: true,
      fetch: async (input, init) => {
        if (typeof init?.body === 'string') sentBodies.push(init.body);
        return fetch(input, init);
      },
    });
  }
  const email = () => `u${randomBytes(5).toString('hex')}@example.com`;

  async function api(path: string, init: RequestInit = {}) {
    const res = await fetch(t.server.url + path, init);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  }
  const json = (body: unknown, token?: string, method = 'POST'): RequestInit => ({
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });

  it('registers, sets up E2E, and a fresh client logging in recovers MK and identity keys', async () => {
    const e = email();
    const alice = client();
    const setup = await (async () => {
      await alice.register({ email: e, passphrase: PASS, displayName: 'Alice' });
      return alice.beginEncryptionSetup();
    })();
    expect(setup.phrase.split(' ')).toHaveLength(24);
    const words = setup.phrase.split(' ');
    await setup.complete(setup.positions.map((p) => ({ position: p, word: words[p]! })));
    expect((await alice.me()).encryptionEnabled).toBe(true);

    const iv = new Uint8Array(randomBytes(12));
    const sealed = await aesGcmEncrypt(
      alice.masterKey!,
      iv,
      new TextEncoder().encode('under MK'),
      new Uint8Array(0),
    );
    const signature = await ed25519Sign(
      alice.identity!.ed25519.privateKey,
      new TextEncoder().encode('hello'),
    );
    await alice.logout();

    const device2 = client();
    await device2.login({ email: e, passphrase: PASS });
    const opened = await aesGcmDecrypt(device2.masterKey!, iv, sealed, new Uint8Array(0));
    expect(new TextDecoder().decode(opened)).toBe('under MK');
    expect(Buffer.from(device2.identity!.ed25519.publicKey)).toEqual(
      Buffer.from(alice.identityPublic!.ed25519PublicKey),
    );
    const sig2 = await ed25519Sign(
      device2.identity!.ed25519.privateKey,
      new TextEncoder().encode('hello'),
    );
    expect(
      await ed25519Verify(
        alice.identityPublic!.ed25519PublicKey,
        sig2,
        new TextEncoder().encode('hello'),
      ),
    ).toBe(true);
    expect(
      await ed25519Verify(
        device2.identityPublic!.ed25519PublicKey,
        signature,
        new TextEncoder().encode('hello'),
      ),
    ).toBe(true);
  });

  it('refuses to enable encryption when the confirmation words are wrong, and stores nothing', async () => {
    const c = client();
    const user = await c.register({ email: email(), passphrase: PASS });
    const setup = await c.beginEncryptionSetup();
    await expect(
      setup.complete(setup.positions.map((p) => ({ position: p, word: 'zzz' }))),
    ).rejects.toBeInstanceOf(VutlerClientError);
    const { rows } = await t.db.pool.query(
      'SELECT encryption_enabled, master_key_encrypted FROM users WHERE id = $1',
      [user.id],
    );
    expect(rows[0]).toEqual({ encryption_enabled: false, master_key_encrypted: null });
  });

  it('rejects a wrong passphrase cleanly with 401 invalid-credentials, like an unknown email', async () => {
    const e = email();
    await client().registerWithEncryption({ email: e, passphrase: PASS });
    const c = client();
    const wrong = await c.login({ email: e, passphrase: 'not it' }).catch((err) => err);
    expect(wrong).toBeInstanceOf(VutlerApiError);
    expect(wrong).toMatchObject({ status: 401, type: 'invalid-credentials' });
    expect(c.masterKey).toBeUndefined();
    const unknown = await client()
      .login({ email: email(), passphrase: 'x' })
      .catch((err) => err);
    expect(unknown).toMatchObject({
      status: 401,
      type: 'invalid-credentials',
      message: wrong.message,
    });
  });

  it('recovers with the phrase and a new passphrase: old passphrase rejected, old data still opens', async () => {
    const e = email();
    const alice = client();
    const { phrase } = await alice.registerWithEncryption({ email: e, passphrase: PASS });
    const iv = new Uint8Array(randomBytes(12));
    const sealed = await aesGcmEncrypt(
      alice.masterKey!,
      iv,
      new TextEncoder().encode('old data'),
      new Uint8Array(0),
    );
    const oldSession = alice.session!.token;

    const lost = client();
    await lost.recover({ email: e, phrase, newPassphrase: 'a brand new passphrase' });
    expect(
      new TextDecoder().decode(await aesGcmDecrypt(lost.masterKey!, iv, sealed, new Uint8Array(0))),
    ).toBe('old data');
    expect(Buffer.from(lost.identityPublic!.ed25519PublicKey)).toEqual(
      Buffer.from(alice.identityPublic!.ed25519PublicKey),
    );

    // Every earlier session was signed out by the passphrase change.
    expect(
      (await api('/api/me', { headers: { authorization: `Bearer ${oldSession}` } })).status,
    ).toBe(401);
    await expect(client().login({ email: e, passphrase: PASS })).rejects.toMatchObject({
      status: 401,
    });
    const again = client();
    await again.login({ email: e, passphrase: 'a brand new passphrase' });
    expect(
      new TextDecoder().decode(
        await aesGcmDecrypt(again.masterKey!, iv, sealed, new Uint8Array(0)),
      ),
    ).toBe('old data');
  });

  it('refuses recovery with a wrong phrase, and a recovery session can do nothing but set a passphrase', async () => {
    const e = email();
    const { phrase } = await client().registerWithEncryption({ email: e, passphrase: PASS });
    const other = await client().registerWithEncryption({ email: email(), passphrase: PASS });
    await expect(
      client().recover({ email: e, phrase: other.phrase, newPassphrase: 'x' }),
    ).rejects.toMatchObject({
      status: 401,
      type: 'invalid-recovery',
    });
    const { deriveRecoverySecrets, signRecoveryChallenge } = await import(
      '../../src/crypto/recovery.ts'
    );
    const secrets = await deriveRecoverySecrets(phrase);
    const answer = async (signingKey: CryptoKey) => {
      const ch = await api('/api/keys/recover/challenge', json({ email: e }));
      expect(ch.status).toBe(200);
      const nonce = Buffer.from(ch.body.nonce, 'base64');
      const signature = Buffer.from(await signRecoveryChallenge(signingKey, e, nonce));
      return { email: e, nonce: ch.body.nonce, signature: signature.toString('base64') };
    };
    const r = await api('/api/keys/recover', json(await answer(secrets.signingKey)));
    expect(r.status).toBe(200);
    const me = await api('/api/me', {
      headers: { authorization: `Bearer ${r.body.session.token}` },
    });
    expect(me.status).toBe(403);
    // The server holds only the recovery public key and its hash: a database dump cannot answer.
    const { rows } = await t.db.pool.query(
      'SELECT backup_phrase_hash, recovery_public_key FROM users WHERE lower(email) = $1',
      [e],
    );
    expect(rows[0].backup_phrase_hash).toBe(secrets.verifier);
    expect(Buffer.from(rows[0].recovery_public_key)).toEqual(Buffer.from(secrets.publicKey));
    // Another phrase's key signing a genuine nonce is refused.
    const otherKey = (await deriveRecoverySecrets(other.phrase)).signingKey;
    expect((await api('/api/keys/recover', json(await answer(otherKey)))).status).toBe(401);
    // A signature over a nonce issued for another email is refused (nonces are bound to emails).
    const foreign = await api('/api/keys/recover/challenge', json({ email: other.user.email }));
    const sig = await signRecoveryChallenge(
      secrets.signingKey,
      e,
      Buffer.from(foreign.body.nonce, 'base64'),
    );
    const crossed = await api(
      '/api/keys/recover',
      json({ email: e, nonce: foreign.body.nonce, signature: Buffer.from(sig).toString('base64') }),
    );
    expect(crossed.status).toBe(401);
  });

  it('changes the passphrase on a logged-in device only with the current one', async () => {
    const e = email();
    const c = client();
    await c.registerWithEncryption({ email: e, passphrase: PASS });
    await expect(c.changePassphrase({ current: 'wrong', next: 'next one' })).rejects.toMatchObject({
      code: 'wrong-passphrase',
    });
    // The server checks too: a stolen session alone cannot set a new passphrase.
    const mine = await api('/api/keys/mine', {
      headers: { authorization: `Bearer ${c.session!.token}` },
    });
    const change = {
      kdf: mine.body.kdf,
      authKey: Buffer.alloc(32, 9).toString('base64'),
      masterKeyEncrypted: mine.body.masterKeyEncrypted,
    };
    expect((await api('/api/keys/passphrase', json(change, c.session!.token, 'PUT'))).status).toBe(
      403,
    );
    const wrongCurrent = { ...change, currentAuthKey: Buffer.alloc(32, 1).toString('base64') };
    expect(
      (await api('/api/keys/passphrase', json(wrongCurrent, c.session!.token, 'PUT'))).status,
    ).toBe(401);
    await c.changePassphrase({ current: PASS, next: 'next one' });
    await expect(client().login({ email: e, passphrase: PASS })).rejects.toMatchObject({
      status: 401,
    });
    const d = client();
    await d.login({ email: e, passphrase: 'next one' });
    expect(d.masterKey).toBeDefined();
  });

  it('answers params for an unknown email indistinguishably in shape, and stably', async () => {
    const e = email();
    await client().registerWithEncryption({ email: e, passphrase: PASS });
    const real = (await api(`/api/auth/params?email=${encodeURIComponent(e)}`)).body.kdf;
    const ghost = `ghost-${randomBytes(4).toString('hex')}@example.com`;
    const fake1 = (await api(`/api/auth/params?email=${encodeURIComponent(ghost)}`)).body.kdf;
    const fake2 = (await api(`/api/auth/params?email=${encodeURIComponent(ghost.toUpperCase())}`))
      .body.kdf;
    const shape = (k: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(k).map(([key, v]) => [
          key,
          typeof v === 'string' ? `string:${v.length}` : typeof v,
        ]),
      );
    expect(shape(fake1)).toEqual(shape(real));
    expect(fake2).toEqual(fake1);
    const otherGhost = (await api('/api/auth/params?email=someone-else%40example.com')).body.kdf;
    expect(otherGhost.salt).not.toBe(fake1.salt);
  });

  it('answers the 6th rapid login attempt for one email with 429 and Retry-After', async () => {
    const e = email();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await api(
        '/api/auth/login',
        json({ email: e, authKey: Buffer.alloc(32, i).toString('base64') }),
      );
      statuses.push(r.status);
      retryAfter = r.headers.get('retry-after');
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('revokes a session at once on logout', async () => {
    const c = client();
    await c.register({ email: email(), passphrase: PASS });
    const token = c.session!.token;
    expect((await api('/api/me', { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );
    await c.logout();
    const after = await api('/api/me', { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);
    expect(after.headers.get('content-type')).toBe('application/problem+json');
  });

  it('rejects an expired session token', async () => {
    const c = client();
    await c.register({ email: email(), passphrase: PASS });
    await t.db.pool.query(
      "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
      [c.session!.sessionId],
    );
    expect(
      (await api('/api/me', { headers: { authorization: `Bearer ${c.session!.token}` } })).status,
    ).toBe(401);
  });

  it('authenticates the web app by HttpOnly cookie and demands the CSRF token for writes', async () => {
    const c = client();
    await c.register({ email: email(), passphrase: PASS });
    const login = await fetch(`${t.server.url}/api/auth/params?email=x%40example.com`);
    expect(login.status).toBe(200);
    const cookie = `vutler_session=${c.session!.token}`;
    const me = await api('/api/me', { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body.csrfToken).toBe(c.session!.csrfToken);
    const noCsrf = await api('/api/auth/logout', { method: 'POST', headers: { cookie } });
    expect(noCsrf.status).toBe(403);
    const ok = await api('/api/auth/logout', {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': c.session!.csrfToken },
    });
    expect(ok.status).toBe(204);
  });

  it('sets a Secure-less HttpOnly SameSite=Strict cookie on login (Secure in production)', async () => {
    const e = email();
    const c = client();
    await c.register({ email: e, passphrase: PASS });
    const res = await fetch(
      `${t.server.url}/api/auth/register`,
      json({
        email: email(),
        kdf: { alg: 'argon2id', salt: Buffer.alloc(16).toString('base64'), m: 1024, t: 1, p: 1 },
        authKey: Buffer.alloc(32, 7).toString('base64'),
      }),
    );
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^vutler_session=vts_/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
  });

  it('issues agent tokens shown once, lists them without the secret, and revokes them at once', async () => {
    const c = client();
    const user = await c.register({ email: email(), passphrase: PASS });
    const issued = await c.createAgentToken({
      agentName: 'claude',
      expiresInDays: 7,
      label: 'laptop',
    });
    expect(issued.token).toMatch(/^vta_[A-Za-z0-9_-]{43}$/);
    const who = await api('/api/agent/whoami', {
      headers: { authorization: `Bearer ${issued.token}` },
    });
    expect(who.body).toMatchObject({ agentName: 'claude', userId: user.id });
    const list = await c.listAgentTokens();
    expect(list).toHaveLength(1);
    expect(JSON.stringify(list)).not.toContain(issued.token);
    expect(list[0]).toMatchObject({ agentName: 'claude', status: 'active', label: 'laptop' });
    await c.revokeAgentToken(issued.id);
    expect(
      (await api('/api/agent/whoami', { headers: { authorization: `Bearer ${issued.token}` } }))
        .status,
    ).toBe(401);
    expect((await c.listAgentTokens())[0]?.status).toBe('revoked');
    // An expired token fails the same way.
    const shortLived = await c.createAgentToken({ agentName: 'helper', expiresInDays: 1 });
    await t.db.pool.query(
      "UPDATE agent_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
      [shortLived.id],
    );
    expect(
      (await api('/api/agent/whoami', { headers: { authorization: `Bearer ${shortLived.token}` } }))
        .status,
    ).toBe(401);
    expect((await c.listAgentTokens()).find((t) => t.id === shortLived.id)?.status).toBe('expired');
    // Someone else's token id is "not found", not "forbidden".
    const mallory = client();
    await mallory.register({ email: email(), passphrase: PASS });
    const other = await c.createAgentToken({ agentName: 'claude' });
    await expect(mallory.revokeAgentToken(other.id)).rejects.toMatchObject({ status: 404 });
    // A session token is not an agent token and vice versa.
    expect(
      (await api('/api/agent/whoami', { headers: { authorization: `Bearer ${c.session!.token}` } }))
        .status,
    ).toBe(401);
    expect(
      (await api('/api/me', { headers: { authorization: `Bearer ${other.token}` } })).status,
    ).toBe(401);
  });

  it('serves a public identity that the client verifies and fingerprints itself', async () => {
    const a = client();
    const { user } = await a.registerWithEncryption({ email: email(), passphrase: PASS });
    const b = client();
    await b.register({ email: email(), passphrase: PASS });
    const { identity, fingerprint } = await b.publicIdentity(user.id);
    expect(fingerprint).toMatch(/^(\d{5} ){5}\d{5}$/);
    expect(Buffer.from(identity.x25519PublicKey)).toEqual(
      Buffer.from(a.identityPublic!.x25519PublicKey),
    );
    const served = await api(`/api/users/${user.id}/keys`, {
      headers: { authorization: `Bearer ${b.session!.token}` },
    });
    expect(served.body.fingerprint).toBe(fingerprint);
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const r = await api(`/api/users/${id}/keys`, {
        headers: { authorization: `Bearer ${b.session!.token}` },
      });
      expect(r.status).toBe(404);
    }
  });

  describe('bad input', () => {
    it('rejects malformed emails, wrong base64, wrong lengths and oversized fields with 4xx', async () => {
      const kdf = {
        alg: 'argon2id',
        salt: Buffer.alloc(16).toString('base64'),
        m: 1024,
        t: 1,
        p: 1,
      };
      const authKey = Buffer.alloc(32, 1).toString('base64');
      const cases: Array<[unknown, number]> = [
        [{ email: 'not-an-email', kdf, authKey }, 422],
        [{ email: `${'a'.repeat(250)}@example.com`, kdf, authKey }, 422],
        [{ email: email(), kdf, authKey: '!!!not base64!!!' }, 422],
        [{ email: email(), kdf, authKey: Buffer.alloc(31).toString('base64') }, 422],
        [{ email: email(), kdf, authKey: 'A'.repeat(100_000) }, 422],
        [{ email: email(), kdf: { ...kdf, salt: 'short' }, authKey }, 422],
        [{ email: email(), kdf: { ...kdf, m: 1 }, authKey }, 422],
        [{ email: email(), kdf: { ...kdf, alg: 'pbkdf2' }, authKey }, 422],
        [{ email: email(), kdf, authKey, displayName: 'x'.repeat(101) }, 422],
        [{ email: email(), kdf, authKey, admin: true }, 422],
        [[1, 2, 3], 422],
      ];
      const before = (await t.db.pool.query('SELECT count(*)::int AS n FROM users')).rows[0].n;
      for (const [body, status] of cases) {
        const r = await api('/api/auth/register', json(body));
        expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
        expect(r.headers.get('content-type')).toBe('application/problem+json');
      }
      expect(
        (
          await api('/api/auth/register', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"email":',
          })
        ).status,
      ).toBe(400);
      expect((await api('/api/auth/params?email=nope')).status).toBe(422);
      expect((await t.db.pool.query('SELECT count(*)::int AS n FROM users')).rows[0].n).toBe(
        before,
      );
    });

    it('answers 409 to a second registration of the same email and to setup called twice, changing nothing', async () => {
      const e = email();
      const c = client();
      await c.registerWithEncryption({ email: e, passphrase: PASS });
      await expect(
        client().register({ email: e.toUpperCase(), passphrase: 'other' }),
      ).rejects.toMatchObject({ status: 409 });
      const before = await t.db.pool.query(
        'SELECT master_key_encrypted, identity_public FROM users WHERE id = $1',
        [c.user!.id],
      );
      const again = await c.beginEncryptionSetup().catch((err) => err);
      // The client refuses locally too once encryption is on? It may not know; the server must refuse.
      if (!(again instanceof Error)) {
        const words = again.phrase.split(' ');
        await expect(
          again.complete(again.positions.map((p: number) => ({ position: p, word: words[p] }))),
        ).rejects.toMatchObject({
          status: 409,
          type: 'already-set-up',
        });
      }
      const after = await t.db.pool.query(
        'SELECT master_key_encrypted, identity_public FROM users WHERE id = $1',
        [c.user!.id],
      );
      expect(after.rows).toEqual(before.rows);
      const keys = await t.db.pool.query(
        'SELECT count(*)::int AS n FROM encryption_keys WHERE user_id = $1 AND revoked_at IS NULL',
        [c.user!.id],
      );
      expect(keys.rows[0].n).toBe(2);
    });

    it('rejects an identity whose signature does not bind it, or that belongs to someone else', async () => {
      const a = client();
      await a.registerWithEncryption({ email: email(), passphrase: PASS });
      const b = client();
      const bUser = await b.register({ email: email(), passphrase: PASS });
      const mine = await api('/api/keys/mine', {
        headers: { authorization: `Bearer ${a.session!.token}` },
      });
      const body = {
        masterKeyEncrypted: mine.body.masterKeyEncrypted,
        recoveryWrappedMasterKey: mine.body.masterKeyEncrypted,
        recoveryPublicKey: mine.body.identity.public.ed25519,
        identity: mine.body.identity,
      };
      // Alice's identity (bound to Alice's id) presented by Bob.
      const stolen = await api('/api/keys/setup', json(body, b.session!.token, 'PUT'));
      expect(stolen.status).toBe(400);
      const forged = {
        ...body,
        identity: { ...body.identity, public: { ...body.identity.public, userId: bUser.id } },
      };
      const bad = await api('/api/keys/setup', json(forged, b.session!.token, 'PUT'));
      expect(bad.status).toBe(400);
      const { rows } = await t.db.pool.query('SELECT encryption_enabled FROM users WHERE id = $1', [
        bUser.id,
      ]);
      expect(rows[0].encryption_enabled).toBe(false);
    });

    it('rejects garbage and replayed tokens with 401', async () => {
      for (const h of [
        'Bearer',
        'Bearer vts_short',
        'Basic abc',
        `Bearer vts_${'A'.repeat(43)}`,
        `Bearer ${'x'.repeat(5000)}`,
      ]) {
        const r = await api('/api/me', { headers: { authorization: h } });
        expect(r.status, h.slice(0, 30)).toBe(401);
      }
    });
  });

  it('leaves no master key, private key, passphrase or phrase in any table or Redis key', async () => {
    const capture = captureClientSecrets();
    let phrase: string;
    const secret = `canary-passphrase-${randomBytes(8).toString('hex')}`;
    const newSecret = `canary-new-${randomBytes(8).toString('hex')}`;
    try {
      const e = email();
      const c = client();
      ({ phrase } = await c.registerWithEncryption({ email: e, passphrase: secret }));
      await c.logout();
      await client().login({ email: e, passphrase: secret });
      await client().recover({ email: e, phrase, newPassphrase: newSecret });
    } finally {
      capture.restore();
    }
    expect(capture.needles.filter((n) => n.label === 'random-32').length).toBeGreaterThan(0);
    expect(capture.needles.filter((n) => n.label === 'X25519-private').length).toBeGreaterThan(0);
    expect(capture.needles.filter((n) => n.label === 'Ed25519-private').length).toBeGreaterThan(0);
    const needles = [
      ...capture.needles,
      { label: 'passphrase', value: secret },
      { label: 'new passphrase', value: newSecret },
      { label: 'phrase', value: phrase },
      { label: 'phrase words', value: phrase.split(' ').slice(0, 4).join(' ') },
      { label: 'recovery signing seed', value: recoverySeed(phrase) },
    ];
    expect(await findSecrets(t.db.pool, t.redis, needles)).toEqual([]);
    // The scan can fail: a leaked private key, stored the way a careless column would, is found.
    const leaked = capture.needles.find((n) => n.label === 'Ed25519-private')!;
    await t.db.pool.query('CREATE TABLE leak_probe (b bytea)');
    await t.db.pool.query('INSERT INTO leak_probe VALUES ($1)', [
      Buffer.from(leaked.value as Uint8Array),
    ]);
    expect(await findSecrets(t.db.pool, t.redis, [leaked])).toEqual(['Ed25519-private']);
    await t.db.pool.query('DROP TABLE leak_probe');
    // And the passphrase never left the client in any request body.
    for (const body of sentBodies) {
      expect(body).not.toContain(secret);
      expect(body).not.toContain(newSecret);
      expect(body).not.toContain(phrase.split(' ').slice(0, 3).join(' '));
    }
  });
});
