import { describe, expect, it } from 'vitest';
import {
  assertIdentityPublic,
  fingerprint,
  identityPublicFromJson,
  identityPublicToJson,
  safetyNumber,
  unwrapIdentity,
  verifyIdentityPublic,
} from '../../../src/crypto/index.ts';
import { ed25519Sign, ed25519Verify } from '../../../src/crypto/primitives.ts';
import { expectCryptoError, flipBit, makeUser } from './helpers.ts';

describe('identity', () => {
  it('creates X25519 + Ed25519 keys whose private halves are non-extractable', async () => {
    const alice = await makeUser('alice');
    expect(alice.keys.x25519.privateKey.extractable).toBe(false);
    expect(alice.keys.ed25519.privateKey.extractable).toBe(false);
    expect(alice.keys.x25519.publicKey.length).toBe(32);
    expect(alice.wrappedPrivate.length).toBe(157);
    expect(await verifyIdentityPublic(alice.publicIdentity)).toBe(true);
  });

  it('unwraps the private keys under MK into working keys', async () => {
    const alice = await makeUser('alice');
    const keys = await unwrapIdentity(alice.masterKey, 'alice', alice.wrappedPrivate);
    expect(keys.x25519.publicKey).toEqual(alice.keys.x25519.publicKey);
    expect(keys.ed25519.publicKey).toEqual(alice.keys.ed25519.publicKey);
    const msg = Uint8Array.of(1, 2, 3);
    expect(
      await ed25519Verify(
        alice.keys.ed25519.publicKey,
        await ed25519Sign(keys.ed25519.privateKey, msg),
        msg,
      ),
    ).toBe(true);
  });

  it('refuses the envelope under another MK, another user id, or tampered', async () => {
    const alice = await makeUser('alice');
    const bob = await makeUser('bob');
    await expectCryptoError(
      unwrapIdentity(bob.masterKey, 'alice', alice.wrappedPrivate),
      'decrypt_failed',
    );
    await expectCryptoError(
      unwrapIdentity(alice.masterKey, 'bob', alice.wrappedPrivate),
      'decrypt_failed',
    );
    for (let bit = 0; bit < alice.wrappedPrivate.length * 8; bit += 13) {
      await expectCryptoError(
        unwrapIdentity(alice.masterKey, 'alice', flipBit(alice.wrappedPrivate, bit)),
      );
    }
    await expectCryptoError(
      unwrapIdentity(alice.masterKey, 'alice', alice.wrappedPrivate.subarray(0, 100)),
      'truncated',
    );
  });

  it('rejects a binding that was altered or reassigned to another user', async () => {
    const alice = await makeUser('alice');
    const bob = await makeUser('bob');
    const pub = alice.publicIdentity;
    expect(await verifyIdentityPublic({ ...pub, userId: 'mallory' })).toBe(false);
    expect(await verifyIdentityPublic({ ...pub, x25519PublicKey: bob.keys.x25519.publicKey })).toBe(
      false,
    );
    expect(
      await verifyIdentityPublic({ ...pub, signature: flipBit(pub.signature, 5) as never }),
    ).toBe(false);
    expect(await verifyIdentityPublic({ ...pub, signature: new Uint8Array(0) as never })).toBe(
      false,
    );
    await expectCryptoError(assertIdentityPublic({ ...pub, userId: 'mallory' }), 'bad_signature');
    await expectCryptoError(
      verifyIdentityPublic({ ...pub, ed25519PublicKey: new Uint8Array(31) }),
      'bad_length',
    );
  });

  it('round-trips the public identity through JSON and rejects malformed JSON', async () => {
    const alice = await makeUser('alice');
    const json = JSON.parse(JSON.stringify(identityPublicToJson(alice.publicIdentity)));
    const back = identityPublicFromJson(json);
    expect(back).toEqual(alice.publicIdentity);
    expect(await verifyIdentityPublic(back)).toBe(true);
    await expectCryptoError(
      () => identityPublicFromJson({ ...json, x25519: 'AAAA' }),
      'bad_length',
    );
    await expectCryptoError(
      () => identityPublicFromJson({ ...json, signature: '***' }),
      'bad_encoding',
    );
    await expectCryptoError(() => identityPublicFromJson({ ...json, userId: 7 }), 'bad_encoding');
    await expectCryptoError(() => identityPublicFromJson('nope'), 'bad_encoding');
  });

  it('shows fingerprints as groups of digits and a symmetric safety number', async () => {
    const alice = await makeUser('alice');
    const bob = await makeUser('bob');
    const fa = await fingerprint(alice.publicIdentity);
    expect(fa).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(await fingerprint(alice.publicIdentity)).toBe(fa);
    expect(await fingerprint(bob.publicIdentity)).not.toBe(fa);
    const ab = await safetyNumber(alice.publicIdentity, bob.publicIdentity);
    expect(ab).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(await safetyNumber(bob.publicIdentity, alice.publicIdentity)).toBe(ab);
    const swapped = { ...alice.publicIdentity, x25519PublicKey: bob.keys.x25519.publicKey };
    expect(await fingerprint(swapped)).not.toBe(fa);
  });
});
