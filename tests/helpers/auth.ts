import { randomBytes } from 'node:crypto';

export const email = () => `h${randomBytes(5).toString('hex')}@example.com`;
export const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString('base64');
const DEFAULT_KDF = { m: 65536, t: 3, p: 1 };
/** A KDF params body with a fresh salt; the server never runs Argon2, so any cost is free here. */
export const kdfJson = (cost: { m: number; t: number; p: number } = DEFAULT_KDF) => ({
  alg: 'argon2id',
  salt: Buffer.from(randomBytes(16)).toString('base64'),
  ...cost,
});

/** Raw HTTP against a test server: bodies as sent, answers as received (status, headers, text). */
export function rawApi(baseUrl: () => string) {
  async function raw(path: string, init: RequestInit = {}) {
    const res = await fetch(baseUrl() + path, init);
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
  async function api(path: string, init: RequestInit = {}) {
    const r = await raw(path, init);
    return { ...r, body: r.text ? JSON.parse(r.text) : undefined };
  }
  const post = (body: unknown, token?: string, method = 'POST', type = 'application/json') => ({
    method,
    headers: {
      'content-type': type,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  /** A registered account (no E2E), through the raw API: no Argon2 run needed. */
  async function account(kdf = kdfJson()) {
    const e = email();
    const r = await api('/api/auth/register', post({ email: e, kdf, authKey: b64(32, 3) }));
    if (r.status !== 201) throw new Error(`register answered ${r.status}: ${r.text}`);
    return { email: e, token: r.body.session.token as string, userId: r.body.user.id as string };
  }
  return { raw, api, post, account };
}
