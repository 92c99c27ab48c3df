import { CryptoError } from './errors.ts';

/**
 * Byte arrays backed by a plain `ArrayBuffer`. TypeScript 5.9's DOM typings only accept those as
 * `BufferSource`, and everything this module returns is one, so callers can hand results straight
 * back to WebCrypto.
 */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Returns `u` unchanged when it is already `ArrayBuffer`-backed, otherwise a copy. */
export function toBytes(u: Uint8Array): Bytes {
  if (!(u instanceof Uint8Array)) {
    throw new CryptoError('bad_input', 'expected a Uint8Array');
  }
  if (u.buffer instanceof ArrayBuffer) return u as Bytes;
  return new Uint8Array(u) as Bytes;
}

export function concat(...parts: Uint8Array[]): Bytes {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function u8(n: number): Bytes {
  return Uint8Array.of(n & 0xff);
}

export function u16be(n: number): Bytes {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) {
    throw new CryptoError('bad_length', `value ${n} does not fit in 16 bits`);
  }
  return Uint8Array.of(n >>> 8, n & 0xff);
}

export function u32be(n: number): Bytes {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new CryptoError('bad_input', `value ${n} does not fit in 32 bits`);
  }
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** u16be(length) ‖ bytes — the one framing used for every id inside HKDF info, AAD and headers. */
export function lengthPrefixed(bytes: Uint8Array): Bytes {
  return concat(u16be(bytes.length), bytes);
}

// A lone surrogate would be silently replaced by U+FFFD when encoding, so two different ids could
// bind to the same bytes. Reject them instead.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// One encoder for the module: it holds no state between calls.
const UTF8 = new TextEncoder();

// Below this length an ASCII string is copied code unit by code unit: for the short ids, labels
// and names framed into every AAD and signature input that costs a fraction of a `TextEncoder`
// call (which crosses into C++ and allocates). Same bytes: ASCII is its own UTF-8.
const ASCII_COPY_MAX = 128;

export function utf8Encode(s: string): Bytes {
  if (typeof s !== 'string') throw new CryptoError('bad_input', 'expected a string');
  const n = s.length;
  if (n <= ASCII_COPY_MAX) {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      out[i] = c;
    }
    if (i === n) return out;
  }
  if (LONE_SURROGATE.test(s)) {
    throw new CryptoError('bad_encoding', 'string contains a lone UTF-16 surrogate');
  }
  return UTF8.encode(s) as Bytes;
}

// Strict and without BOM handling; `decode` of a whole buffer keeps no state between calls.
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8Decode(b: Uint8Array): string {
  try {
    return UTF8_STRICT.decode(b);
  } catch (err) {
    throw new CryptoError('bad_encoding', 'bytes are not valid UTF-8', { cause: err });
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Standard alphabet, padded (RFC 4648 §4). */
export function base64Encode(bytes: Uint8Array): string {
  const parts: string[] = [];
  let line = '';
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    line += B64[v >>> 18]! + B64[(v >>> 12) & 63]! + B64[(v >>> 6) & 63]! + B64[v & 63]!;
    // Flush periodically so very long inputs do not build one enormous rope string.
    if (line.length >= 8192) {
      parts.push(line);
      line = '';
    }
  }
  if (i < n) {
    const a = bytes[i]!;
    const b = i + 1 < n ? bytes[i + 1]! : 0;
    const v = (a << 16) | (b << 8);
    line += B64[v >>> 18]! + B64[(v >>> 12) & 63]!;
    line += i + 1 < n ? `${B64[(v >>> 6) & 63]!}=` : '==';
  }
  parts.push(line);
  return parts.join('');
}

/**
 * Strict decoder: standard alphabet only, padding required, no whitespace, and the unused bits of
 * the last group must be zero — so every byte string has exactly one accepted encoding.
 * `expectedLength`, when given, turns a wrong decoded size into `bad_length`.
 */
export function base64Decode(s: string, expectedLength?: number): Bytes {
  if (typeof s !== 'string') throw new CryptoError('bad_encoding', 'base64 input is not a string');
  if (s.length % 4 !== 0) {
    throw new CryptoError('bad_encoding', 'base64 length is not a multiple of 4');
  }
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  const outLen = (s.length / 4) * 3 - pad;
  const out = new Uint8Array(outLen);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const lastGroup = i + 4 === s.length;
    const vals = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      if (c === 61 /* '=' */ && lastGroup && j >= 4 - pad) {
        vals[j] = 0;
        continue;
      }
      const v = c < 128 ? B64_INDEX[c]! : -1;
      if (v < 0) throw new CryptoError('bad_encoding', `invalid base64 character at ${i + j}`);
      vals[j] = v;
    }
    const v = (vals[0]! << 18) | (vals[1]! << 12) | (vals[2]! << 6) | vals[3]!;
    if (lastGroup && pad > 0) {
      const unused = pad === 2 ? v & 0xffff : v & 0xff;
      if (unused !== 0) throw new CryptoError('bad_encoding', 'non-canonical base64 padding bits');
    }
    out[o++] = v >>> 16;
    if (o < outLen) out[o++] = (v >>> 8) & 0xff;
    if (o < outLen) out[o++] = v & 0xff;
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new CryptoError('bad_length', `expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}

export function hexEncode(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function hexDecode(s: string, expectedLength?: number): Bytes {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new CryptoError('bad_encoding', 'invalid hex string');
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new CryptoError('bad_length', `expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}

/** Compares without an early exit, so timing does not reveal the length of a common prefix. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Best-effort zeroization; JS engines may still hold copies (see docs/CRYPTO.md). */
export function wipe(...arrays: (Uint8Array | null | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

export function randomBytes(n: number): Bytes {
  const out = new Uint8Array(n);
  // getRandomValues refuses more than 65 536 bytes per call.
  for (let off = 0; off < n; off += 65_536) {
    globalThis.crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65_536)));
  }
  return out;
}

/**
 * `expectLength` without the `ArrayBuffer` check, for bytes that are only copied (framed, hashed):
 * reading `.buffer` of a small typed array makes V8 move it off the heap, which on a cold
 * membership log is thousands of allocations.
 */
export function checkLength(b: Uint8Array, n: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array))
    throw new CryptoError('bad_input', `${what} must be a Uint8Array`);
  if (b.length !== n) {
    throw new CryptoError('bad_length', `${what} must be ${n} bytes, got ${b.length}`);
  }
  return b;
}

export function expectLength(b: Uint8Array, n: number, what: string): Bytes {
  if (!(b instanceof Uint8Array))
    throw new CryptoError('bad_input', `${what} must be a Uint8Array`);
  if (b.length !== n) {
    throw new CryptoError('bad_length', `${what} must be ${n} bytes, got ${b.length}`);
  }
  return toBytes(b);
}

/** Sequential parser for envelopes: running off the end is `truncated`, leftovers are an error. */
export class ByteReader {
  private offset = 0;
  private readonly buf: Bytes;

  constructor(
    buf: Uint8Array,
    private readonly what: string,
  ) {
    if (!(buf instanceof Uint8Array)) throw new CryptoError('bad_input', `${what} must be bytes`);
    this.buf = toBytes(buf);
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  take(n: number): Bytes {
    if (this.remaining < n) {
      throw new CryptoError('truncated', `${this.what} is truncated`);
    }
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  byte(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }

  u32(): number {
    const b = this.take(4);
    return ((b[0]! << 24) >>> 0) + ((b[1]! << 16) | (b[2]! << 8) | b[3]!);
  }

  /** Reads a version byte and rejects anything but `expected`. */
  version(expected: number): void {
    const v = this.byte();
    if (v !== expected) {
      throw new CryptoError('unknown_version', `${this.what} has unknown version ${v}`);
    }
  }

  rest(): Bytes {
    return this.take(this.remaining);
  }

  end(): void {
    if (this.remaining !== 0) {
      throw new CryptoError('trailing_data', `${this.what} has ${this.remaining} trailing bytes`);
    }
  }
}
