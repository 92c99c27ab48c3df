import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base64Encode,
  checkRecoveryVerifier,
  confirmRecoveryWords,
  createMasterKey,
  DEFAULT_KDF_COST,
  derivePassphraseKeys,
  deriveRecoverySecrets,
  fakeKdfParams,
  generateRecoveryPhrase,
  isOnKdfLadder,
  isValidRecoveryPhrase,
  KDF_COST_LADDER,
  kdfParamsFromJson,
  kdfParamsToJson,
  newKdfParams,
  normalizeRecoveryPhrase,
  pickConfirmationPositions,
  RECOVERY_WORDS,
  recoveryPhraseFromEntropy,
  rewrapMasterKey,
  signRecoveryChallenge,
  unwrapMasterKey,
  verifyRecoveryChallenge,
} from '../../../src/crypto/index.ts';
import { aesGcmDecrypt, aesGcmEncrypt } from '../../../src/crypto/primitives.ts';
import { CHEAP_KDF, expectCryptoError, flipBit } from './helpers.ts';

const weak = { allowWeakParams: true };

describe('passphrase', () => {
  it('derives the same authKey and kek from the same passphrase and params', async () => {
    const params = newKdfParams(CHEAP_KDF);
    const a = await derivePassphraseKeys('hunter2 hunter2', params, weak);
    const b = await derivePassphraseKeys('hunter2 hunter2', params, weak);
    expect(a.authKey).toEqual(b.authKey);
    expect(a.authKey.length).toBe(32);
    expect(a.kek.extractable).toBe(false);
    const iv = new Uint8Array(12);
    const ct = await aesGcmEncrypt(a.kek, iv, Uint8Array.of(1, 2, 3), new Uint8Array(0));
    expect(await aesGcmDecrypt(b.kek, iv, ct, new Uint8Array(0))).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('gives different keys for another passphrase or salt, and authKey ≠ kek material', async () => {
    const params = newKdfParams(CHEAP_KDF);
    const a = await derivePassphraseKeys('one', params, weak);
    const b = await derivePassphraseKeys('two', params, weak);
    const c = await derivePassphraseKeys('one', newKdfParams(CHEAP_KDF), weak);
    expect(a.authKey).not.toEqual(b.authKey);
    expect(a.authKey).not.toEqual(c.authKey);
  });

  it('normalises the passphrase to NFC', async () => {
    const params = newKdfParams(CHEAP_KDF);
    const nfc = await derivePassphraseKeys('caf\u00e9', params, weak);
    const nfd = await derivePassphraseKeys('cafe\u0301', params, weak);
    expect(nfc.authKey).toEqual(nfd.authKey);
  });

  it('refuses params below the floor unless explicitly allowed (a lying server)', async () => {
    await expectCryptoError(derivePassphraseKeys('x', newKdfParams(CHEAP_KDF)), 'bad_params');
    await expectCryptoError(derivePassphraseKeys('', newKdfParams(CHEAP_KDF), weak), 'bad_input');
  });

  it('round-trips params through JSON and rejects malformed params', async () => {
    const p = newKdfParams(CHEAP_KDF);
    const json = JSON.parse(JSON.stringify(kdfParamsToJson(p)));
    expect(kdfParamsFromJson(json)).toEqual(p);
    await expectCryptoError(() => kdfParamsFromJson(null), 'bad_encoding');
    await expectCryptoError(() => kdfParamsFromJson({ ...json, alg: 'scrypt' }), 'bad_params');
    await expectCryptoError(() => kdfParamsFromJson({ ...json, salt: 'AAAA' }), 'bad_length');
    await expectCryptoError(
      () => kdfParamsFromJson({ ...json, salt: 'not base64!' }),
      'bad_encoding',
    );
    await expectCryptoError(() => kdfParamsFromJson({ ...json, m: 4 }), 'bad_params');
    await expectCryptoError(() => kdfParamsFromJson({ ...json, t: 0 }), 'bad_params');
    await expectCryptoError(() => kdfParamsFromJson({ ...json, p: 1.5 }), 'bad_params');
    await expectCryptoError(() => kdfParamsFromJson({ ...json, m: 2 ** 40 }), 'bad_params');
  });

  it('defaults to m=64 MiB, t=3, p=1 and runs them', async () => {
    const p = newKdfParams();
    expect([p.memoryKiB, p.iterations, p.parallelism]).toEqual([65536, 3, 1]);
    const t0 = performance.now();
    const keys = await derivePassphraseKeys('a production passphrase', p);
    expect(keys.authKey.length).toBe(32);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('gives unknown emails a stable, secret-dependent fake salt and a rung of the ladder', async () => {
    const secret = new Uint8Array(32).fill(7);
    const a = await fakeKdfParams(secret, 'Nobody@Example.com');
    const b = await fakeKdfParams(secret, ' nobody@example.com ');
    const c = await fakeKdfParams(new Uint8Array(32).fill(8), 'nobody@example.com');
    expect(a).toEqual(b);
    expect(a.salt).not.toEqual(c.salt);
    expect(isOnKdfLadder(a)).toBe(true);
    await expectCryptoError(fakeKdfParams(new Uint8Array(8), 'x'), 'bad_length');
    // Over many emails, every rung appears and the default is the most common.
    const counts = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const f = await fakeKdfParams(secret, `person${i}@example.com`);
      counts.set(f.memoryKiB, (counts.get(f.memoryKiB) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((x, y) => x - y)).toEqual(
      KDF_COST_LADDER.map((r) => r.memoryKiB),
    );
    expect(counts.get(DEFAULT_KDF_COST.memoryKiB)!).toBeGreaterThan(200);
  });

  it('refuses, without allowWeakParams, any cost below the default', async () => {
    for (const cost of [
      { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 },
      { memoryKiB: 64 * 1024, iterations: 2, parallelism: 1 },
      { memoryKiB: 32 * 1024, iterations: 3, parallelism: 1 },
    ]) {
      await expectCryptoError(derivePassphraseKeys('x', newKdfParams(cost)), 'bad_params');
    }
  });
});

describe('recovery phrase', () => {
  it('generates 24 valid words and normalises what users type', () => {
    const phrase = generateRecoveryPhrase();
    expect(phrase.split(' ')).toHaveLength(RECOVERY_WORDS);
    expect(isValidRecoveryPhrase(phrase)).toBe(true);
    const typed = `  ${phrase.toUpperCase().replace(/ /g, '\n  ')}  `;
    expect(normalizeRecoveryPhrase(typed)).toBe(phrase);
    expect(isValidRecoveryPhrase(typed)).toBe(true);
  });

  it('makes a 64-hex-char verifier that fits backup_phrase_hash and is stable', async () => {
    const phrase = generateRecoveryPhrase();
    const a = await deriveRecoverySecrets(phrase);
    const b = await deriveRecoverySecrets(phrase.toUpperCase());
    expect(a.verifier).toMatch(/^[0-9a-f]{64}$/);
    expect(a.verifier).toBe(b.verifier);
    expect(Buffer.from(a.publicKey)).toEqual(Buffer.from(b.publicKey));
    expect(await checkRecoveryVerifier(phrase, a.verifier)).toBe(true);
    expect(await checkRecoveryVerifier(generateRecoveryPhrase(), a.verifier)).toBe(false);
  });

  it('derives the recovery key pair and verifier exactly as documented (checked against node:crypto)', async () => {
    const entropy = Uint8Array.from({ length: 32 }, (_, i) => i);
    const phrase = recoveryPhraseFromEntropy(entropy);
    expect(phrase.split(' ').slice(0, 3)).toEqual(['abandon', 'amount', 'liar']);
    // Independent oracle: seed = HKDF-SHA-256(entropy, salt = "", info = label ‖ 0x00), Ed25519.
    const info = Buffer.concat([Buffer.from('vutler/v1/recovery-signing'), Buffer.of(0)]);
    const seed = Buffer.from(hkdfSync('sha256', entropy, Buffer.alloc(0), info, 32));
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32);
    const secrets = await deriveRecoverySecrets(phrase);
    expect(Buffer.from(secrets.publicKey)).toEqual(pub);
    expect(secrets.verifier).toBe(createHash('sha256').update(pub).digest('hex'));
    // The challenge signature covers label ‖ 0x00 ‖ len‖email ‖ len‖nonce.
    const nonce = new Uint8Array(32).fill(4);
    const msg = Buffer.concat([
      Buffer.from('vutler/v1/recovery/sig'),
      Buffer.of(0, 0, 13),
      Buffer.from('a@example.com'),
      Buffer.of(0, 32),
      nonce,
    ]);
    const expected = sign(null, msg, priv);
    const sig = await signRecoveryChallenge(secrets.signingKey, ' A@example.com', nonce);
    expect(Buffer.from(sig)).toEqual(expected);
  });

  it('binds a challenge answer to its email and nonce', async () => {
    const s = await deriveRecoverySecrets(generateRecoveryPhrase());
    const nonce = new Uint8Array(32).fill(1);
    const sig = await signRecoveryChallenge(s.signingKey, 'a@example.com', nonce);
    expect(await verifyRecoveryChallenge(s.publicKey, 'a@example.com', nonce, sig)).toBe(true);
    expect(await verifyRecoveryChallenge(s.publicKey, 'b@example.com', nonce, sig)).toBe(false);
    const other = new Uint8Array(32).fill(2);
    expect(await verifyRecoveryChallenge(s.publicKey, 'a@example.com', other, sig)).toBe(false);
    await expectCryptoError(
      signRecoveryChallenge(s.signingKey, 'a@example.com', new Uint8Array(16)),
      'bad_length',
    );
  });

  it('rejects wrong word counts, unknown words and bad checksums as bad_phrase', async () => {
    const words = generateRecoveryPhrase().split(' ');
    await expectCryptoError(deriveRecoverySecrets(words.slice(0, 12).join(' ')), 'bad_phrase');
    await expectCryptoError(
      deriveRecoverySecrets([...words.slice(0, 23), 'notaword'].join(' ')),
      'bad_phrase',
    );
    const swapped = [...words];
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    if (swapped[0] !== swapped[1] && !isValidRecoveryPhrase(swapped.join(' '))) {
      await expectCryptoError(deriveRecoverySecrets(swapped.join(' ')), 'bad_phrase');
    }
    await expectCryptoError(deriveRecoverySecrets(`${'abandon '.repeat(23)}abandon`), 'bad_phrase');
  });

  it('confirms words at chosen positions', () => {
    const phrase = generateRecoveryPhrase();
    const words = phrase.split(' ');
    const positions = pickConfirmationPositions(3);
    expect(new Set(positions).size).toBe(3);
    for (const p of positions) expect(p).toBeGreaterThanOrEqual(0);
    for (const p of positions) expect(p).toBeLessThan(24);
    const answers = positions.map((position) => ({
      position,
      word: words[position]!.toUpperCase(),
    }));
    expect(confirmRecoveryWords(phrase, answers)).toBe(true);
    expect(
      confirmRecoveryWords(phrase, [
        { position: 0, word: words[1]! === words[0] ? 'zzz' : words[1]! },
      ]),
    ).toBe(false);
    expect(confirmRecoveryWords(phrase, [{ position: 24, word: 'abandon' }])).toBe(false);
    expect(confirmRecoveryWords(phrase, [])).toBe(false);
  });
});

describe('master key', () => {
  async function setup() {
    const { kek } = await derivePassphraseKeys('pass', newKdfParams(CHEAP_KDF), weak);
    const phrase = generateRecoveryPhrase();
    const { recoveryKey } = await deriveRecoverySecrets(phrase);
    const created = await createMasterKey({ kek, recoveryKey });
    return { kek, recoveryKey, phrase, ...created };
  }

  async function sameKey(a: CryptoKey, b: CryptoKey): Promise<boolean> {
    const iv = new Uint8Array(12);
    const ct = await aesGcmEncrypt(a, iv, Uint8Array.of(42), new Uint8Array(0));
    try {
      return (await aesGcmDecrypt(b, iv, ct, new Uint8Array(0)))[0] === 42;
    } catch {
      return false;
    }
  }

  it('unwraps the same non-extractable MK under kek and under the recovery key', async () => {
    const s = await setup();
    expect(s.wrappedForPassphrase.length).toBe(61);
    expect(s.wrappedForPassphrase[0]).toBe(1);
    expect(s.masterKey.extractable).toBe(false);
    const viaKek = await unwrapMasterKey(s.kek, 'passphrase', s.wrappedForPassphrase);
    const viaRk = await unwrapMasterKey(s.recoveryKey, 'recovery', s.wrappedForRecovery);
    expect(viaKek.extractable).toBe(false);
    expect(await sameKey(viaKek, s.masterKey)).toBe(true);
    expect(await sameKey(viaRk, s.masterKey)).toBe(true);
  });

  it('fails with the wrong passphrase, the wrong wrapper kind or a tampered envelope', async () => {
    const s = await setup();
    const { kek: wrong } = await derivePassphraseKeys('wrong', newKdfParams(CHEAP_KDF), weak);
    await expectCryptoError(
      unwrapMasterKey(wrong, 'passphrase', s.wrappedForPassphrase),
      'decrypt_failed',
    );
    await expectCryptoError(
      unwrapMasterKey(s.kek, 'recovery', s.wrappedForPassphrase),
      'decrypt_failed',
    );
    for (let bit = 0; bit < s.wrappedForPassphrase.length * 8; bit += 7) {
      await expectCryptoError(
        unwrapMasterKey(s.kek, 'passphrase', flipBit(s.wrappedForPassphrase, bit)),
      );
    }
    await expectCryptoError(
      unwrapMasterKey(s.kek, 'passphrase', s.wrappedForPassphrase.subarray(0, 60)),
      'truncated',
    );
    await expectCryptoError(
      unwrapMasterKey(s.kek, 'passphrase', new Uint8Array([...s.wrappedForPassphrase, 0])),
      'trailing_data',
    );
    await expectCryptoError(
      unwrapMasterKey(s.kek, 'passphrase', Uint8Array.of(9, ...s.wrappedForPassphrase.subarray(1))),
      'unknown_version',
    );
  });

  it('re-wraps MK after recovery under a new passphrase', async () => {
    const s = await setup();
    const { recoveryKey } = await deriveRecoverySecrets(s.phrase);
    const { kek: newKek } = await derivePassphraseKeys('new pass', newKdfParams(CHEAP_KDF), weak);
    const rewrapped = await rewrapMasterKey(
      { key: recoveryKey, kind: 'recovery', envelope: s.wrappedForRecovery },
      { key: newKek, kind: 'passphrase' },
    );
    const mk = await unwrapMasterKey(newKek, 'passphrase', rewrapped);
    expect(await sameKey(mk, s.masterKey)).toBe(true);
    expect(base64Encode(rewrapped)).not.toBe(base64Encode(s.wrappedForPassphrase));
  });
});
