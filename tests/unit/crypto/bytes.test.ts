import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteReader,
  base64Decode,
  base64Encode,
  concat,
  constantTimeEqual,
  hexDecode,
  hexEncode,
  lengthPrefixed,
  randomBytes,
  utf8Decode,
  utf8Encode,
} from '../../../src/crypto/bytes.ts';
import { domain, epochBytes, idBytes, Label } from '../../../src/crypto/labels.ts';
import { expectCryptoError } from './helpers.ts';

describe('base64', () => {
  it('matches a reference encoder for random bytes and decodes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const s = base64Encode(bytes);
        // The test may use Node's encoder as an oracle; the module itself may not.
        expect(s).toBe(Buffer.from(bytes).toString('base64'));
        expect(base64Decode(s)).toEqual(new Uint8Array(bytes));
      }),
    );
  });

  it.each([
    ['no padding', 'YQ'],
    ['bad length', 'YWJjZ'],
    ['url alphabet', 'a-_b'],
    ['whitespace', 'YWJj ZGVm'],
    ['padding in the middle', 'YQ==YWJj'],
    ['three pad chars', 'Y==='],
    ['only padding', '===='],
    ['non-canonical trailing bits', 'YR=='],
    ['non-ascii', 'YWJjé==='],
  ])('rejects %s', async (_name, input) => {
    await expectCryptoError(() => base64Decode(input), 'bad_encoding');
  });

  it('rejects a non-string', async () => {
    await expectCryptoError(() => base64Decode(42 as unknown as string), 'bad_encoding');
  });

  it('reports a wrong decoded size as bad_length', async () => {
    await expectCryptoError(() => base64Decode(base64Encode(new Uint8Array(31)), 32), 'bad_length');
  });

  it('encodes the empty string', () => {
    expect(base64Encode(new Uint8Array(0))).toBe('');
    expect(base64Decode('')).toEqual(new Uint8Array(0));
  });
});

describe('hex, utf8 and comparison', () => {
  it('round-trips hex and rejects malformed hex', async () => {
    const b = randomBytes(40);
    expect(hexDecode(hexEncode(b))).toEqual(b);
    await expectCryptoError(() => hexDecode('abc'), 'bad_encoding');
    await expectCryptoError(() => hexDecode('zz'), 'bad_encoding');
  });

  it('rejects invalid UTF-8 and lone surrogates', async () => {
    await expectCryptoError(() => utf8Decode(Uint8Array.of(0xc3, 0x28)), 'bad_encoding');
    await expectCryptoError(() => utf8Encode('a\uD800b'), 'bad_encoding');
    expect(utf8Decode(utf8Encode('naïve 🔐'))).toBe('naïve 🔐');
    // Lone surrogates are refused on the short (ASCII copy) path's fallback and the long one.
    await expectCryptoError(() => utf8Encode(`${'a'.repeat(200)}\uDC00`), 'bad_encoding');
    await expectCryptoError(() => utf8Encode('\uDBFF'), 'bad_encoding');
  });

  it('encodes exactly as TextEncoder, short or long, ASCII or not (property)', () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 140, unit: 'binary' }),
          fc.string({ maxLength: 300 }),
          fc.string({
            minLength: 100,
            maxLength: 140,
            unit: fc.constantFrom('a', '~', '\x7f', '\0'),
          }),
        ),
        (s) => {
          const out = utf8Encode(s);
          expect(out).toEqual(enc.encode(s));
          expect(out.buffer).toBeInstanceOf(ArrayBuffer);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decodes correctly after a failed decode (one shared strict decoder)', async () => {
    for (const bad of [[0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x94], [0xff]]) {
      await expectCryptoError(() => utf8Decode(Uint8Array.from(bad)), 'bad_encoding');
      expect(utf8Decode(Uint8Array.of(0x41, 0x42))).toBe('AB');
      // A leading BOM is content, not swallowed.
      expect(utf8Decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41))).toBe('\uFEFFA');
    }
  });

  it('compares in constant time', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1), Uint8Array.of(1, 2))).toBe(false);
  });
});

describe('domain separation', () => {
  it('has distinct labels under vutler/v1/', () => {
    const values = Object.values(Label);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toMatch(/^vutler\/v1\/[a-z0-9/-]+$/);
  });

  it('frames fields so different splits never collide', () => {
    const a = domain(Label.messageAad, utf8Encode('ab'), utf8Encode('c'));
    const b = domain(Label.messageAad, utf8Encode('a'), utf8Encode('bc'));
    expect(constantTimeEqual(a, b)).toBe(false);
    expect(a).toEqual(
      concat(utf8Encode('vutler/v1/message/aad'), Uint8Array.of(0, 0, 2, 97, 98, 0, 1, 99)),
    );
  });

  it('canonicalises UUIDs to lower case but keeps other ids as given', () => {
    const id = '018F3C1A-7B2C-7D3E-8F40-123456789ABC';
    expect(idBytes(id)).toEqual(idBytes(id.toLowerCase()));
    expect(idBytes('Claude')).not.toEqual(idBytes('claude'));
  });

  it('rejects empty or oversized ids and bad epochs', async () => {
    await expectCryptoError(() => idBytes(''), 'bad_input');
    await expectCryptoError(() => idBytes('x'.repeat(1025)), 'bad_length');
    await expectCryptoError(() => epochBytes(-1), 'bad_input');
    await expectCryptoError(() => epochBytes(2 ** 32), 'bad_input');
    await expectCryptoError(() => epochBytes(1.5), 'bad_input');
    expect(epochBytes(2 ** 32 - 1)).toEqual(Uint8Array.of(255, 255, 255, 255));
  });

  it('length-prefixes with u16be', () => {
    expect(lengthPrefixed(Uint8Array.of(7))).toEqual(Uint8Array.of(0, 1, 7));
  });

  it('frames exactly label ‖ 0x00 ‖ lengthPrefixed(field)* (written in one buffer)', async () => {
    const labels = Object.values(Label);
    fc.assert(
      fc.property(
        fc.constantFrom(...labels),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        (label, fields) => {
          expect(domain(label, ...fields)).toEqual(
            concat(utf8Encode(label), Uint8Array.of(0), ...fields.map(lengthPrefixed)),
          );
        },
      ),
    );
    await expectCryptoError(() => domain(Label.messageAad, new Uint8Array(0x10000)), 'bad_length');
  });
});

describe(ByteReader.name, () => {
  it('reports truncation, unknown versions and trailing data', async () => {
    await expectCryptoError(() => new ByteReader(new Uint8Array(0), 'x').version(1), 'truncated');
    await expectCryptoError(
      () => new ByteReader(Uint8Array.of(2), 'x').version(1),
      'unknown_version',
    );
    const r = new ByteReader(Uint8Array.of(1, 0, 0, 0, 5, 9), 'x');
    r.version(1);
    expect(r.u32()).toBe(5);
    await expectCryptoError(() => r.end(), 'trailing_data');
    await expectCryptoError(() => r.take(2), 'truncated');
  });
});
