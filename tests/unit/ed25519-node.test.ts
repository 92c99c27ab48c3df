import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexDecode } from '../../src/crypto/bytes.ts';
import {
  ed25519Verifier,
  ed25519Verify,
  ed25519VerifySync,
  useEd25519Verifier,
} from '../../src/crypto/primitives.ts';
import {
  installNodeEd25519,
  nodeEd25519Verify,
  nodeEd25519VerifyAsync,
} from '../../src/ed25519-node.ts';

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

  // The promise-returning checks run on the thread pool, the synchronous one on the caller's
  // thread, the per-signer one on the pool too: each must give every vector's answer.
  const paths = {
    'ed25519Verify (thread pool)': (pk: Uint8Array, sig: Uint8Array, msg: Uint8Array) =>
      ed25519Verify(pk, sig, msg),
    'ed25519VerifySync (event loop)': async (pk: Uint8Array, sig: Uint8Array, msg: Uint8Array) =>
      ed25519VerifySync(pk, sig, msg),
    'ed25519Verifier (thread pool, per signer)': async (
      pk: Uint8Array,
      sig: Uint8Array,
      msg: Uint8Array,
    ) => (await ed25519Verifier(pk))(sig, msg),
  };
  for (const [name, check] of Object.entries(paths)) {
    it(`answers every Wycheproof Ed25519 vector exactly as WebCrypto must: ${name}`, async () => {
      let n = 0;
      for (const g of suite.testGroups) {
        for (const c of g.tests) {
          const ok = await check(hexDecode(g.publicKey.pk), hexDecode(c.sig), hexDecode(c.msg));
          expect(ok, `tcId ${c.tcId} ${c.comment}`).toBe(c.result === 'valid');
          n++;
        }
      }
      expect(n).toBe(suite.numberOfTests);
    });
  }

  it('takes the off-thread verifier for promise-returning checks, not the synchronous one', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pub = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
    const msg = new TextEncoder().encode('vutler/v1/test');
    const sig = new Uint8Array(sign(null, msg, privateKey));
    let sync = 0;
    let pooled = 0;
    useEd25519Verifier(
      (p, s, d) => {
        sync++;
        return nodeEd25519Verify(p, s, d);
      },
      (p, s, d) => {
        pooled++;
        return nodeEd25519VerifyAsync(p, s, d);
      },
    );
    try {
      expect(await ed25519Verify(pub, sig, msg)).toBe(true);
      expect(await (await ed25519Verifier(pub))(sig, msg)).toBe(true);
      expect(ed25519VerifySync(pub, sig, msg)).toBe(true);
      expect({ sync, pooled }).toEqual({ sync: 1, pooled: 2 });
      // A key that is not a curve point: the same answer on both paths.
      const notAPoint = new Uint8Array(32).fill(0xff);
      expect(await ed25519Verify(notAPoint, sig, msg)).toBe(ed25519VerifySync(notAPoint, sig, msg));
    } finally {
      installNodeEd25519();
    }
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
