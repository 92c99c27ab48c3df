import { createHash, hkdfSync } from 'node:crypto';
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
  isValidRecoveryPhrase,
  kdfParamsFromJson,
  kdfParamsToJson,
  newKdfParams,
  normalizeRecoveryPhrase,
  pickConfirmationPositions,
  RECOVERY_WORDS,
  recoveryPhraseFromEntropy,
  rewrapMasterKey,
  unwrapMasterKey,
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

  it('gives unknown emails a stable, secret-dependent fake salt', async () => {
    const secret = new Uint8Array(32).fill(7);
    const a = await fakeKdfParams(secret, 'Nobody@Example.com');
    const b = await fakeKdfParams(secret, ' nobody@example.com ');
    const c = await fakeKdfParams(new Uint8Array(32).fill(8), 'nobody@example.com');
    expect(a).toEqual(b);
    expect(a.salt).not.toEqual(c.salt);
    expect(a.memoryKiB).toBe(DEFAULT_KDF_COST.memoryKiB);
    await expectCryptoError(fakeKdfParams(new Uint8Array(8), 'x'), 'bad_length');
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
    expect(await checkRecoveryVerifier(phrase, a.verifier)).toBe(true);
    expect(await checkRecoveryVerifier(generateRecoveryPhrase(), a.verifier)).toBe(false);
  });

  it('computes the verifier exactly as documented (checked against node:crypto)', async () => {
    const entropy = Uint8Array.from({ length: 32 }, (_, i) => i);
    const phrase = recoveryPhraseFromEntropy(entropy);
    expect(phrase.split(' ').slice(0, 3)).toEqual(['abandon', 'amount', 'liar']);
    // Independent oracle: SHA-256(HKDF-SHA-256(entropy, salt = "", info = label ‖ 0x00)).
    const info = Buffer.concat([Buffer.from('vutler/v1/recovery-verifier'), Buffer.of(0)]);
    const v = Buffer.from(hkdfSync('sha256', entropy, Buffer.alloc(0), info, 32));
    const expected = createHash('sha256').update(v).digest('hex');
    const { verifier } = await deriveRecoverySecrets(phrase);
    expect(verifier).toBe(expected);
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
