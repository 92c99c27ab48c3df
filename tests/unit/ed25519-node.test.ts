import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexDecode } from '../../src/crypto/bytes.ts';
import { ed25519Verify, useEd25519Verifier } from '../../src/crypto/primitives.ts';
import { installNodeEd25519 } from '../../src/ed25519-node.ts';

interface Suite {
  numberOfTests: number;
  testGroups: {
    publicKey: { pk: string };
    tests: { tcId: number; comment: string; msg: string; sig: string; result: string }[];
  }[];
}

const suite = JSON.parse(
  readFileSync(new URL('../vectors/wycheproof/ed25519_test.json', import.meta.url), 'utf8'),
) as Suite;

describe('ed25519Verify on the server’s Node verifier', () => {
  beforeAll(() => installNodeEd25519());
  afterAll(() => useEd25519Verifier(undefined));

  it('answers every Wycheproof Ed25519 vector exactly as WebCrypto must', async () => {
    let n = 0;
    for (const g of suite.testGroups) {
      for (const c of g.tests) {
        const ok = await ed25519Verify(
          hexDecode(g.publicKey.pk),
          hexDecode(c.sig),
          hexDecode(c.msg),
        );
        expect(ok, `tcId ${c.tcId} ${c.comment}`).toBe(c.result === 'valid');
        n++;
      }
    }
    expect(n).toBe(suite.numberOfTests);
  });

  it('accepts a fresh signature and refuses it for another message or key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519').publicKey;
    const raw = (k: typeof publicKey) =>
      new Uint8Array(k.export({ format: 'der', type: 'spki' }).subarray(12));
    const msg = new TextEncoder().encode('vutler/v1/test');
    const sig = new Uint8Array(sign(null, msg, privateKey));
    expect(await ed25519Verify(raw(publicKey), sig, msg)).toBe(true);
    expect(await ed25519Verify(raw(publicKey), sig, msg.slice(1))).toBe(false);
    expect(await ed25519Verify(raw(other), sig, msg)).toBe(false);
  });
});
