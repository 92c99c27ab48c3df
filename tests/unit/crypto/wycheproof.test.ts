import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { concat, hexDecode, hexEncode } from '../../../src/crypto/bytes.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Verifier,
  ed25519Verify,
  hkdfBytes,
  importAesKey,
  importX25519Private,
  sha256,
  x25519,
} from '../../../src/crypto/primitives.ts';
import { expectCryptoError, failsWithCryptoError } from './helpers.ts';

/**
 * Wycheproof vectors run through the same wrappers the module uses (src/crypto/primitives.ts),
 * not through bare `crypto.subtle`, so a wrapper bug (wrong tag length, swapped arguments, a
 * missing all-zero check) would show up here.
 */

interface Suite<G> {
  numberOfTests: number;
  testGroups: (G & { tests: Case[] })[];
}
interface Case {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid' | 'acceptable';
  [k: string]: unknown;
}

function load<G>(name: string): Suite<G> {
  const url = new URL(`../../vectors/wycheproof/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Suite<G>;
}

const h = (v: unknown) => hexDecode(v as string);

describe('Wycheproof AES-GCM', () => {
  const suite = load<{ keySize: number; ivSize: number; tagSize: number }>('aes_gcm_test.json');
  // v1 only ever uses AES-256 with 96-bit nonces and 128-bit tags; importAesKey refuses other key
  // sizes and aesGcm* refuse other nonce sizes, so only these groups exercise reachable code.
  const used = suite.testGroups.filter(
    (g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128,
  );
  const cases = used.flatMap((g) => g.tests);

  it('covers the groups v1 uses', () => {
    expect(cases.filter((c) => c.result === 'valid').length).toBeGreaterThanOrEqual(39);
    expect(cases.filter((c) => c.result === 'invalid').length).toBeGreaterThanOrEqual(27);
  });

  it('accepts every valid case with the right output and rejects every invalid one', async () => {
    for (const c of cases) {
      const key = await importAesKey(h(c.key));
      const sealed = concat(h(c.ct), h(c.tag));
      if (c.result === 'valid') {
        const ct = await aesGcmEncrypt(key, h(c.iv), h(c.msg), h(c.aad));
        expect(hexEncode(ct), `tcId ${c.tcId}`).toBe(hexEncode(sealed));
        const pt = await aesGcmDecrypt(key, h(c.iv), sealed, h(c.aad));
        expect(hexEncode(pt), `tcId ${c.tcId}`).toBe(c.msg);
      } else {
        const failed = await failsWithCryptoError(() =>
          aesGcmDecrypt(key, h(c.iv), sealed, h(c.aad)),
        );
        expect(failed, `tcId ${c.tcId} ${c.comment}`).toBe(true);
      }
    }
  });

  it('refuses nonces that are not 96 bits (the zero-length-IV cases and others)', async () => {
    const other = suite.testGroups.filter((g) => g.keySize === 256 && g.ivSize !== 96);
    expect(other.length).toBeGreaterThan(0);
    for (const c of other.flatMap((g) => g.tests)) {
      const key = await importAesKey(h(c.key));
      await expectCryptoError(
        aesGcmDecrypt(key, h(c.iv), concat(h(c.ct), h(c.tag)), h(c.aad)),
        'bad_length',
      );
    }
  });

  it('refuses AES-128/192 keys', async () => {
    const c = suite.testGroups.find((g) => g.keySize === 128)!.tests[0]!;
    await expectCryptoError(importAesKey(h(c.key)), 'bad_length');
  });
});

describe('Wycheproof X25519', () => {
  const suite = load<object>('x25519_test.json');
  const cases = suite.testGroups.flatMap((g) => g.tests);

  /*
   * "acceptable" cases are twist points, non-canonical public keys and low-order points. WebCrypto
   * (Secure Curves spec, implemented by Node and browsers) computes twist and non-canonical inputs
   * like RFC 7748 does, and MUST reject an all-zero shared secret; our wrapper additionally
   * rejects all-zero output itself. Decision: an all-zero result is always `bad_key` (it would let
   * a malicious peer force a known wrapping key); every other acceptable case must match.
   */
  it('matches every valid case and every non-zero acceptable case', async () => {
    let checked = 0;
    for (const c of cases) {
      if (/^(00)+$/.test(c.shared as string)) continue;
      const priv = await importX25519Private(h(c.private));
      const shared = await x25519(priv, h(c.public));
      expect(hexEncode(shared), `tcId ${c.tcId} ${c.comment}`).toBe(c.shared);
      checked++;
    }
    expect(checked).toBeGreaterThan(450);
  });

  it('rejects every case whose shared secret is all zero (low-order public keys)', async () => {
    const zero = cases.filter((c) => /^(00)+$/.test(c.shared as string));
    expect(zero.length).toBeGreaterThan(20);
    for (const c of zero) {
      expect(c.result, `tcId ${c.tcId}`).toBe('acceptable');
      const priv = await importX25519Private(h(c.private));
      await expectCryptoError(x25519(priv, h(c.public)), 'bad_key');
    }
  });

  it('rejects public keys of the wrong size', async () => {
    const c = cases[0]!;
    const priv = await importX25519Private(h(c.private));
    await expectCryptoError(x25519(priv, new Uint8Array(31)), 'bad_length');
  });
});

describe('Wycheproof Ed25519', () => {
  const suite = load<{ publicKey: { pk: string } }>('ed25519_test.json');

  it('accepts every valid signature and rejects every invalid one', async () => {
    let n = 0;
    for (const g of suite.testGroups) {
      for (const c of g.tests) {
        const ok = await ed25519Verify(h(g.publicKey.pk), h(c.sig), h(c.msg));
        expect(ok, `tcId ${c.tcId} ${c.comment}`).toBe(c.result === 'valid');
        n++;
      }
    }
    expect(n).toBe(suite.numberOfTests);
  });

  it('gives the same verdicts through a per-signer verifier (the membership log path)', async () => {
    let n = 0;
    for (const g of suite.testGroups) {
      const check = await ed25519Verifier(h(g.publicKey.pk));
      // Started all at once, as the log verifier does, then awaited.
      const verdicts = await Promise.all(g.tests.map((c) => check(h(c.sig), h(c.msg))));
      g.tests.forEach((c, i) => {
        expect(verdicts[i], `tcId ${c.tcId} ${c.comment}`).toBe(c.result === 'valid');
        n++;
      });
    }
    expect(n).toBe(suite.numberOfTests);
    await expectCryptoError(ed25519Verifier(new Uint8Array(31)), 'bad_length');
  });
});

describe('SHA-256: small inputs hashed in JavaScript, large ones by WebCrypto', () => {
  it('gives WebCrypto digest on both sides of the threshold', async () => {
    for (const n of [0, 1, 55, 56, 64, 4095, 4096, 4097, 100_000]) {
      const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff);
      const want = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
      expect(hexEncode(await sha256(data)), `${n} bytes`).toBe(hexEncode(want));
    }
  });
});

describe('Wycheproof HKDF-SHA-256', () => {
  const suite = load<object>('hkdf_sha256_test.json');

  it('derives every valid case and rejects every invalid (oversized) one', async () => {
    let n = 0;
    for (const c of suite.testGroups.flatMap((g) => g.tests)) {
      const size = c.size as number;
      if (c.result === 'valid') {
        const okm = await hkdfBytes(h(c.ikm), h(c.salt), h(c.info), size);
        expect(hexEncode(okm), `tcId ${c.tcId}`).toBe(c.okm);
      } else {
        await expectCryptoError(hkdfBytes(h(c.ikm), h(c.salt), h(c.info), size), 'bad_length');
      }
      n++;
    }
    expect(n).toBe(suite.numberOfTests);
  });
});
