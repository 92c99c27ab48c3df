import { hexEncode, randomBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';

const UUID_V7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * RFC 9562 UUIDv7: 48-bit Unix milliseconds, then 74 random bits. Message ids are made by the
 * client (they are bound into the AAD before the server sees the message) and sort by time.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  if (!Number.isInteger(nowMs) || nowMs < 0 || nowMs > 0xffff_ffff_ffff) {
    throw new CryptoError('bad_input', 'timestamp out of range for UUIDv7');
  }
  const b = randomBytes(16);
  // 48-bit timestamp does not fit 32-bit bitwise ops, so split it arithmetically.
  const hi = Math.floor(nowMs / 2 ** 16);
  b[0] = (hi >>> 24) & 0xff;
  b[1] = (hi >>> 16) & 0xff;
  b[2] = (hi >>> 8) & 0xff;
  b[3] = hi & 0xff;
  b[4] = (nowMs >>> 8) & 0xff;
  b[5] = nowMs & 0xff;
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = hexEncode(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function isUuidV7(value: unknown): value is string {
  return typeof value === 'string' && UUID_V7_RE.test(value);
}

export function assertUuidV7(value: unknown, what = 'id'): asserts value is string {
  if (!isUuidV7(value)) throw new CryptoError('bad_input', `${what} must be a UUIDv7`);
}

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  assertUuidV7(id);
  const hex = id.replace(/-/g, '').slice(0, 12);
  return Number.parseInt(hex, 16);
}
