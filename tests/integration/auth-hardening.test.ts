import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VutlerClient } from '../../src/client/index.ts';
import { useTestServer } from '../helpers/app.ts';
import { b64, email, kdfJson, rawApi } from '../helpers/auth.ts';
import { CHEAP_KDF } from '../helpers/people.ts';

const PASS = 'a hardening passphrase';

describe('HTTP hardening of accounts (issue 9)', () => {
  const t = useTestServer();

  const { raw, api, post, account } = rawApi(() => t.server.url);

  describe('text fields refuse NUL and lone surrogates (defect 1)', () => {
    const bad = ['a\u0000b', '\u0000', 'x\ud800y', '\udfff'];

    it('answers 422, not 500, for register displayName and agent-token label', async () => {
      const { token } = await account();
      for (const s of bad) {
        const reg = await api(
          '/api/auth/register',
          post({ email: email(), displayName: s, kdf: kdfJson(), authKey: b64(32) }),
        );
        expect(reg.status, JSON.stringify(s)).toBe(422);
        const tok = await api('/api/agents/tokens', post({ agentName: 'claude', label: s }, token));
        expect(tok.status, JSON.stringify(s)).toBe(422);
      }
      const { rows } = await t.db.pool.query(
        "SELECT count(*)::int AS n FROM users WHERE display_name LIKE '%' || chr(65533) || '%'",
      );
      expect(rows[0].n).toBe(0);
    });

    it('answers 422 for every other text field too, including object keys', async () => {
      const { token } = await account();
      const cases: Array<[string, string, (s: string) => unknown, string?]> = [
        ['POST', '/api/auth/register', (s) => ({ email: s, kdf: kdfJson(), authKey: b64(32) })],
        ['POST', '/api/auth/login', (s) => ({ email: s, authKey: b64(32) })],
        ['POST', '/api/keys/recover', (s) => ({ email: s, nonce: b64(32), signature: b64(64) })],
        ['POST', '/api/keys/recover/challenge', (s) => ({ email: s })],
        ['POST', '/api/agents/tokens', (s) => ({ agentName: s }), token],
        ['POST', '/api/agents/tokens', (s) => ({ agentName: 'x', [s]: 1 }), token],
        ['POST', '/api/chats', (s) => ({ id: s }), token],
      ];
      for (const [method, path, body, tk] of cases) {
        for (const s of bad) {
          const r = await api(path, post(body(s), tk, method));
          expect(r.status, `${path} ${JSON.stringify(body(s))}`).toBe(422);
        }
      }
      const q = await api(`/api/auth/params?email=${encodeURIComponent('a\u0000@example.com')}`);
      expect(q.status).toBe(422);
    });

    it('never answers 5xx to such a body on any write route of the app, and stores nothing', async () => {
      const { token } = await account();
      const before = await t.db.pool.query('SELECT count(*)::int AS n FROM users');
      const routes = t.server.vutler.app.routes.filter(
        (r) =>
          ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method) &&
          r.path.startsWith('/api/') &&
          r.path !== '/api/auth/logout',
      );
      expect(routes.length).toBeGreaterThan(5);
      const poison = '{"email":"a\\u0000b@example.com","label":"\\ud800","x":{"\\u0000":1}}';
      for (const r of routes) {
        const path = r.path.replace(/:[^/]+/g, () => randomUUID());
        const res = await raw(path, post(poison, token, r.method));
        expect(res.status, `${r.method} ${r.path}`).toBeLessThan(500);
        expect(res.status, `${r.method} ${r.path}`).toBeGreaterThanOrEqual(400);
      }
      expect((await t.db.pool.query('SELECT count(*)::int AS n FROM users')).rows).toEqual(
        before.rows,
      );
    });
  });

  describe('GET /api/auth/params (defect 2, issue 8)', () => {
    const mask = (text: string) => text.replace(/"salt":"[A-Za-z0-9+/=]{24}"/, '"salt":"…"');

    it('answers a real account and an unknown email with byte-identical bodies but the salt', async () => {
      const real = await account();
      const realBody = (await raw(`/api/auth/params?email=${encodeURIComponent(real.email)}`)).text;
      // Unknown emails spread over the ladder of costs; find one on the default rung.
      let ghostBody: string | undefined;
      for (let i = 0; i < 40 && !ghostBody; i++) {
        const r = await raw(
          `/api/auth/params?email=ghost${i}-${randomBytes(3).toString('hex')}%40example.com`,
        );
        if (r.text.includes('"m":65536,')) ghostBody = r.text;
      }
      expect(ghostBody).toBeDefined();
      expect(realBody).toMatch(
        /^\{"kdf":\{"alg":"argon2id","salt":"[A-Za-z0-9+/=]{24}","m":65536,"t":3,"p":1\}\}$/,
      );
      expect(mask(ghostBody!)).toBe(mask(realBody));
      expect(ghostBody!.length).toBe(realBody.length);
    });

    it('gives unknown emails costs from the same ladder as accounts with a stronger cost', async () => {
      const strong = await account(kdfJson({ m: 262144, t: 3, p: 1 }));
      const strongBody = (await raw(`/api/auth/params?email=${encodeURIComponent(strong.email)}`))
        .text;
      const seen = new Map<string, string>();
      for (let i = 0; i < 100; i++) {
        const r = await raw(
          `/api/auth/params?email=g${i}-${randomBytes(3).toString('hex')}%40example.com`,
        );
        const cost = /"m":(\d+),"t":(\d+),"p":(\d+)/.exec(r.text)![0];
        seen.set(cost, r.text);
      }
      // Every rung shows up among unknown emails (each misses 100 draws with p < 2e-6), so a
      // stronger cost says nothing.
      expect([...seen.keys()].sort()).toEqual(
        ['"m":131072,"t":3,"p":1', '"m":262144,"t":3,"p":1', '"m":65536,"t":3,"p":1'].sort(),
      );
      expect(mask(seen.get('"m":262144,"t":3,"p":1')!)).toBe(mask(strongBody));
    });
  });

  describe('request media types and caching (defect 6)', () => {
    it('reads only application/json in UTF-8 as JSON', async () => {
      const body = { email: email(), kdf: kdfJson(), authKey: b64(32) };
      for (const type of [
        'application/json-seq',
        'application/merge-patch+json',
        'application/json; charset=utf-16',
        'application/json; charset=latin1',
        'text/plain',
        'application/jsonx',
      ]) {
        const r = await api('/api/auth/register', post(body, undefined, 'POST', type));
        expect(r.status, type).toBe(415);
      }
      // Declared UTF-8 but not UTF-8 (a CESU-8 lone surrogate): refused, not stored as U+FFFD.
      const invalid = Buffer.concat([
        Buffer.from(`{"email":"${email()}","displayName":"a`),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from(`","kdf":${JSON.stringify(kdfJson())},"authKey":"${b64(32)}"}`),
      ]);
      const bad = await api('/api/auth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: invalid,
      });
      expect(bad.status).toBe(400);
      expect(bad.body.type).toBe('urn:vutler:problem:malformed-json');
      const ok = await api(
        '/api/auth/register',
        post(body, undefined, 'POST', 'Application/JSON; Charset="UTF-8"'),
      );
      expect(ok.status).toBe(201);
    });

    it('marks every response that carries a session token Cache-Control: no-store', async () => {
      const c = new VutlerClient({ baseUrl: t.server.url, kdfCost: CHEAP_KDF, allowWeakKdf: true });
      const seen: Array<[string, string | null]> = [];
      const watch = new VutlerClient({
        baseUrl: t.server.url,
        kdfCost: CHEAP_KDF,
        allowWeakKdf: true,
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          seen.push([
            `${init?.method ?? 'GET'} ${new URL(input).pathname}`,
            res.headers.get('cache-control'),
          ]);
          return res;
        },
      });
      const e = email();
      const { phrase } = await c.registerWithEncryption({ email: e, passphrase: PASS });
      await watch.register({ email: email(), passphrase: PASS });
      await watch.logout();
      await watch.login({ email: e, passphrase: PASS });
      await watch.changePassphrase({ current: PASS, next: 'second passphrase' });
      await watch.recover({ email: e, phrase, newPassphrase: 'third passphrase' });
      const mustNotCache = seen.filter(([what]) =>
        /^(POST \/api\/auth\/(register|login)|POST \/api\/keys\/recover|PUT \/api\/keys\/passphrase|GET \/api\/me)$/.test(
          what,
        ),
      );
      expect(mustNotCache.length).toBeGreaterThanOrEqual(6);
      for (const [what, cc] of mustNotCache) expect(cc, what).toBe('no-store');
    });
  });
});

describe('behind a trusted proxy (VUTLER_TRUST_PROXY=true)', () => {
  const t = useTestServer({ VUTLER_TRUST_PROXY: 'true' });

  it('answers, not 500, when X-Forwarded-For is not an address, and stores no garbage', async () => {
    for (const forwarded of ['not-an-ip', '999.1.1.1', "1.2.3.4'; --", '::ffff:zz']) {
      const e = email();
      const r = await fetch(`${t.server.url}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwarded },
        body: JSON.stringify({ email: e, kdf: kdfJson(), authKey: b64(32) }),
      });
      expect(r.status, forwarded).toBe(201);
    }
    const ok = await fetch(`${t.server.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7, 10.0.0.1' },
      body: JSON.stringify({ email: email(), kdf: kdfJson(), authKey: b64(32) }),
    });
    const { session } = (await ok.json()) as { session: { sessionId: string } };
    const { rows } = await t.db.pool.query(
      'SELECT host(ip_address) AS ip FROM sessions WHERE id = $1',
      [session.sessionId],
    );
    expect(rows[0].ip).toBe('203.0.113.7');
  });
});
