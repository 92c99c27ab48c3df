import {
  createHash,
  createHmac,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (
  password: Uint8Array,
  salt: Uint8Array,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export type TokenKind = 'session' | 'agent';
const PREFIX: Record<TokenKind, string> = { session: 'vts_', agent: 'vta_' };

/** An opaque bearer token: a kind prefix and 256 random bits. Only its hash is stored. */
export function newToken(kind: TokenKind): { token: string; hash: Buffer } {
  const token = PREFIX[kind] + randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** The token carries 256 bits of entropy, so one SHA-256 is enough to make the stored value useless. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export function tokenKind(token: string): TokenKind | undefined {
  if (!/^vt[sa]_[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
  return token.startsWith('vts_') ? 'session' : 'agent';
}

// scrypt N=2^14, r=8: ~16 MiB and tens of ms. The input is already an Argon2id output, so this
// only has to make a stolen table expensive to test guesses against, not stretch a weak secret.
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** Slow hash of the client's authKey, as `scrypt$N$r$p$salt$hash` (base64url parts). */
export async function hashAuthKey(authKey: Uint8Array): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(authKey, salt, 32, SCRYPT);
  return [
    'scrypt',
    SCRYPT.N,
    SCRYPT.r,
    SCRYPT.p,
    salt.toString('base64url'),
    hash.toString('base64url'),
  ].join('$');
}

export async function verifyAuthKey(authKey: Uint8Array, stored: string): Promise<boolean> {
  const [alg, n, r, p, saltB64, hashB64] = stored.split('$');
  if (alg !== 'scrypt' || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, 'base64url');
  const actual = await scrypt(authKey, Buffer.from(saltB64, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(actual, expected);
}

/** A stored hash for unknown accounts, so a login for one costs the same time as for a real one. */
export const DUMMY_AUTH_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(32).toString('base64url')}`;

export function hmac(key: Uint8Array, ...parts: string[]): Buffer {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(`${part.length}:${part}`);
  return h.digest();
}

export function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
