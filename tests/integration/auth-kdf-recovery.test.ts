import { describe, expect, it } from 'vitest';
import { VutlerClient, VutlerClientError } from '../../src/client/index.ts';
import { useTestServer } from '../helpers/app.ts';
import { b64, email, kdfJson, rawApi } from '../helpers/auth.ts';
import { CHEAP_KDF } from '../helpers/people.ts';

const PASS = 'a hardening passphrase';

describe('KDF floor and recovery challenges (issue 8)', () => {
  const t = useTestServer();

  const { api, post, account } = rawApi(() => t.server.url);

  describe('KDF floor (issue 8)', () => {
    /** A proxy in front of the real server that answers the params endpoint with a weaker cost. */
    function downgradingClient(weak: { m: number; t: number; p: number }, sent: string[]) {
      return new VutlerClient({
        baseUrl: t.server.url,
        fetch: async (input, init) => {
          const url = new URL(input);
          sent.push(url.pathname);
          const res = await fetch(input, init);
          if (url.pathname !== '/api/auth/params') return res;
          const body = (await res.json()) as { kdf: Record<string, unknown> };
          return new Response(JSON.stringify({ kdf: { ...body.kdf, ...weak } }), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          });
        },
      });
    }

    it('refuses a params answer weaker than the default before sending any authKey', async () => {
      const honest = new VutlerClient({ baseUrl: t.server.url });
      const e = email();
      await honest.register({ email: e, passphrase: PASS });
      await honest.logout();
      // Positive control: the honest server's answer works without allowWeakKdf.
      await new VutlerClient({ baseUrl: t.server.url }).login({ email: e, passphrase: PASS });

      for (const weak of [
        { m: 19456, t: 2, p: 1 },
        { m: 65536, t: 2, p: 1 },
        { m: 32768, t: 3, p: 1 },
      ]) {
        const sent: string[] = [];
        const err = await downgradingClient(weak, sent)
          .login({ email: e, passphrase: PASS })
          .catch((x: unknown) => x);
        expect(err).toBeInstanceOf(VutlerClientError);
        expect(err).toMatchObject({ code: 'kdf-too-weak' });
        expect(sent).not.toContain('/api/auth/login');
      }
    });

    it('refuses weak parameters written into the database', async () => {
      const a = await account();
      await t.db.pool.query('UPDATE users SET key_derivation_params = $2 WHERE id = $1', [
        a.userId,
        kdfJson({ m: 19456, t: 2, p: 1 }),
      ]);
      const sent: string[] = [];
      const c = new VutlerClient({
        baseUrl: t.server.url,
        fetch: (input, init) => {
          sent.push(new URL(input).pathname);
          return fetch(input, init);
        },
      });
      await expect(c.login({ email: a.email, passphrase: PASS })).rejects.toMatchObject({
        code: 'kdf-too-weak',
      });
      expect(sent).toEqual(['/api/auth/params']);
    });
  });

  describe('recovery by challenge and response (issue 8)', () => {
    it('refuses a recorded recovery request replayed later', async () => {
      const owner = new VutlerClient({
        baseUrl: t.server.url,
        kdfCost: CHEAP_KDF,
        allowWeakKdf: true,
      });
      const e = email();
      const { phrase } = await owner.registerWithEncryption({ email: e, passphrase: PASS });
      const recorded: string[] = [];
      const lost = new VutlerClient({
        baseUrl: t.server.url,
        kdfCost: CHEAP_KDF,
        allowWeakKdf: true,
        fetch: (input, init) => {
          if (new URL(input).pathname === '/api/keys/recover' && typeof init?.body === 'string')
            recorded.push(init.body);
          return fetch(input, init);
        },
      });
      await lost.recover({ email: e, phrase, newPassphrase: 'recovered passphrase' });
      expect(recorded).toHaveLength(1);
      const replay = await api('/api/keys/recover', post(recorded[0]));
      expect(replay.status).toBe(401);
      expect(replay.body.type).toBe('urn:vutler:problem:invalid-recovery');
    });
  });
});

describe('a server that enforces the KDF ladder (VUTLER_KDF_ALLOW_WEAK=false)', () => {
  const t = useTestServer({ VUTLER_KDF_ALLOW_WEAK: 'false' });
  const register = (cost: { m: number; t: number; p: number }) =>
    fetch(`${t.server.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: email(), kdf: kdfJson(cost), authKey: b64(32) }),
    });

  it('lets accounts choose only the default or a stronger rung of the ladder', async () => {
    for (const cost of [
      { m: 1024, t: 1, p: 1 },
      { m: 19456, t: 2, p: 1 },
      { m: 65536, t: 2, p: 1 },
      { m: 100000, t: 3, p: 1 },
      { m: 65536, t: 4, p: 1 },
      { m: 65536, t: 3, p: 2 },
    ]) {
      const r = await register(cost);
      expect(r.status, JSON.stringify(cost)).toBe(422);
      expect(((await r.json()) as { type: string }).type).toBe(
        'urn:vutler:problem:crypto-bad-params',
      );
    }
    for (const cost of [
      { m: 65536, t: 3, p: 1 },
      { m: 131072, t: 3, p: 1 },
      { m: 262144, t: 3, p: 1 },
    ]) {
      expect((await register(cost)).status, JSON.stringify(cost)).toBe(201);
    }
  });

  it('refuses a passphrase change to a weaker cost, changing nothing', async () => {
    const c = new VutlerClient({ baseUrl: t.server.url });
    const e = email();
    await c.register({ email: e, passphrase: PASS });
    const before = await t.db.pool.query(
      'SELECT key_derivation_params FROM users WHERE lower(email) = $1',
      [e],
    );
    const r = await fetch(`${t.server.url}/api/keys/passphrase`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.session!.token}` },
      body: JSON.stringify({
        kdf: kdfJson({ m: 19456, t: 2, p: 1 }),
        authKey: b64(32),
        masterKeyEncrypted: b64(61),
        currentAuthKey: b64(32),
      }),
    });
    expect(r.status).toBe(422);
    const after = await t.db.pool.query(
      'SELECT key_derivation_params FROM users WHERE lower(email) = $1',
      [e],
    );
    expect(after.rows).toEqual(before.rows);
  });
});

describe('recovery challenges', () => {
  const t = useTestServer();

  it('issues a nonce to unknown emails exactly as to real ones, and spends it on first use', async () => {
    const owner = new VutlerClient({
      baseUrl: t.server.url,
      kdfCost: CHEAP_KDF,
      allowWeakKdf: true,
    });
    const e = email();
    await owner.registerWithEncryption({ email: e, passphrase: PASS });
    const challenge = async (who: string) => {
      const r = await fetch(`${t.server.url}/api/keys/recover/challenge`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: who }),
      });
      return { status: r.status, text: await r.text(), cache: r.headers.get('cache-control') };
    };
    const shape = (text: string) =>
      text.replace(/"nonce":"[A-Za-z0-9+/=]{44}"/, 'N').replace(/"expiresAt":"[^"]{24}"/, 'E');
    const real = await challenge(e);
    const ghost = await challenge(email());
    expect(real.status).toBe(200);
    expect(ghost.status).toBe(200);
    expect(shape(real.text)).toBe('{N,E}');
    expect(shape(ghost.text)).toBe(shape(real.text));
    expect(real.text.length).toBe(ghost.text.length);
    expect(real.cache).toBe('no-store');
    // A nonce is spent by any answer, even a wrong one: it cannot be retried with another guess.
    const { nonce } = JSON.parse(real.text) as { nonce: string };
    const wrong = { email: e, nonce, signature: b64(64, 9) };
    const post = (body: unknown) =>
      fetch(`${t.server.url}/api/keys/recover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post(wrong)).status).toBe(401);
    const keys = await t.redis.keys('*recovery-nonce*');
    const rawNonce = Buffer.from(nonce, 'base64');
    for (const k of keys) expect(k).not.toContain(rawNonce.toString('base64url'));
    // Redis holds only hashes: neither the email nor the nonce appears in keys or values.
    for (const k of keys) {
      expect(k).not.toContain(e);
      expect((await t.redis.get(k)) ?? '').not.toContain(e);
    }
  });

  it('accepts one answer exactly once even when it is sent many times at the same moment', async () => {
    const owner = new VutlerClient({
      baseUrl: t.server.url,
      kdfCost: CHEAP_KDF,
      allowWeakKdf: true,
    });
    const e = email();
    const { phrase } = await owner.registerWithEncryption({ email: e, passphrase: PASS });
    const { deriveRecoverySecrets, signRecoveryChallenge } = await import(
      '../../src/crypto/recovery.ts'
    );
    const ch = await fetch(`${t.server.url}/api/keys/recover/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: e }),
    });
    const { nonce } = (await ch.json()) as { nonce: string };
    const secrets = await deriveRecoverySecrets(phrase);
    const sig = await signRecoveryChallenge(secrets.signingKey, e, Buffer.from(nonce, 'base64'));
    const body = JSON.stringify({
      email: e,
      nonce,
      signature: Buffer.from(sig).toString('base64'),
    });
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () =>
        fetch(`${t.server.url}/api/keys/recover`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        }).then((r) => r.status),
      ),
    );
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it('refuses an answer after the nonce expired', async () => {
    const owner = new VutlerClient({
      baseUrl: t.server.url,
      kdfCost: CHEAP_KDF,
      allowWeakKdf: true,
    });
    const e = email();
    const { phrase } = await owner.registerWithEncryption({ email: e, passphrase: PASS });
    const { deriveRecoverySecrets, signRecoveryChallenge } = await import(
      '../../src/crypto/recovery.ts'
    );
    const r = await fetch(`${t.server.url}/api/keys/recover/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: e }),
    });
    const { nonce } = (await r.json()) as { nonce: string };
    // Expire it the way Redis would after five minutes.
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256').update(Buffer.from(nonce, 'base64')).digest('base64url');
    const [key] = await t.redis.keys(`*recovery-nonce:${digest}`);
    expect(key).toBeDefined();
    expect(await t.redis.ttl(key!)).toBeGreaterThan(0);
    await t.redis.del(key!);
    const secrets = await deriveRecoverySecrets(phrase);
    const sig = await signRecoveryChallenge(secrets.signingKey, e, Buffer.from(nonce, 'base64'));
    const answer = await fetch(`${t.server.url}/api/keys/recover`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: e, nonce, signature: Buffer.from(sig).toString('base64') }),
    });
    expect(answer.status).toBe(401);
  });
});
