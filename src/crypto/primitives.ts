import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import {
  type Bytes,
  base64Decode,
  concat,
  expectLength,
  hexDecode,
  hexEncode,
  toBytes,
  wipe,
} from './bytes.ts';
import { CryptoError, mapErrors } from './errors.ts';

/**
 * Thin wrappers over WebCrypto. They pin the only parameters v1 uses (AES-256-GCM with 96-bit
 * nonces and 128-bit tags, HKDF-SHA-256, X25519, Ed25519), check sizes before calling into the
 * engine, and translate engine exceptions into `CryptoError`s.
 */

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const X25519_PUBLIC_BYTES = 32;
export const ED25519_PUBLIC_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export type AesUsage = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey';

export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new CryptoError('unsupported', 'WebCrypto (crypto.subtle) is not available');
  return s;
}

/** Inputs up to this size are hashed synchronously (see `sha256Sync`): no thread-pool hop. */
const SYNC_SHA256_MAX = 4096;

export async function sha256(data: Uint8Array): Promise<Bytes> {
  if (platformSha256) return platformSha256(toBytes(data));
  // Message links, fingerprints, log entries: small inputs, where WebCrypto's per-call cost
  // (a job on the thread pool) exceeds the hashing itself.
  if (data instanceof Uint8Array && data.length <= SYNC_SHA256_MAX) return nobleSha256(data);
  return new Uint8Array(await subtle().digest('SHA-256', toBytes(data)));
}

/** A synchronous SHA-256 a platform may plug in (same output as WebCrypto's digest). */
export type Sha256 = (data: Bytes) => Bytes;
let platformSha256: Sha256 | undefined;

/**
 * Lets a platform plug in a faster SHA-256 (the server installs Node's `createHash`: one
 * synchronous call instead of a WebCrypto job on the thread pool). Browsers keep WebCrypto.
 */
export function useSha256(hash: Sha256 | undefined): void {
  platformSha256 = hash;
}

/**
 * SHA-256, synchronously: the platform's if one is plugged in, else JavaScript (@noble/hashes).
 * For many small inputs — the entries of a membership log — one WebCrypto `digest` per input
 * costs far more in promise and argument-checking overhead (~25 µs of CPU each in Node) than
 * the hashing itself (~5 µs here).
 */
export function sha256Sync(data: Uint8Array): Bytes {
  return platformSha256 ? platformSha256(toBytes(data)) : nobleSha256(data);
}

// ---------------------------------------------------------------------------------------------
// HKDF-SHA-256

/** Imports IKM as a (necessarily non-extractable) HKDF base key. Does not wipe `ikm`. */
export async function importHkdfKey(ikm: Uint8Array): Promise<CryptoKey> {
  return mapErrors('bad_input', 'cannot import HKDF key', () =>
    subtle().importKey('raw', toBytes(ikm), 'HKDF', false, ['deriveBits', 'deriveKey']),
  );
}

async function asHkdfKey(ikm: CryptoKey | Uint8Array): Promise<CryptoKey> {
  if (ikm instanceof Uint8Array) return importHkdfKey(ikm);
  if (ikm.algorithm.name !== 'HKDF') throw new CryptoError('bad_input', 'expected an HKDF key');
  return ikm;
}

/** HKDF-SHA-256 output as bytes. `length` is in bytes, at most 255 × 32. */
export async function hkdfBytes(
  ikm: CryptoKey | Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Bytes> {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new CryptoError('bad_length', `HKDF-SHA-256 cannot produce ${length} bytes`);
  }
  if (platformHkdf && ikm instanceof Uint8Array) {
    const hkdf = platformHkdf;
    return mapErrors('bad_input', 'HKDF failed', async () =>
      hkdf(toBytes(ikm), toBytes(salt), toBytes(info), length),
    );
  }
  const base = await asHkdfKey(ikm);
  return mapErrors('bad_input', 'HKDF failed', async () => {
    const params = { name: 'HKDF', hash: 'SHA-256', salt: toBytes(salt), info: toBytes(info) };
    return new Uint8Array(await subtle().deriveBits(params, base, length * 8));
  });
}

/** A synchronous HKDF-SHA-256 over raw input keying material a platform may plug in. */
export type Hkdf = (ikm: Bytes, salt: Bytes, info: Bytes, length: number) => Bytes;
let platformHkdf: Hkdf | undefined;

/**
 * Lets a platform plug in a synchronous HKDF for raw IKM (the server installs Node's `hkdfSync`:
 * WebCrypto's import + derive costs far more than the hash itself). Derived AES keys are then
 * imported from bytes that are wiped at once. Browsers keep WebCrypto.
 */
export function useHkdf(hkdf: Hkdf | undefined): void {
  platformHkdf = hkdf;
}

/** HKDF-SHA-256 straight into a non-extractable AES-256-GCM key. */
export async function hkdfAesKey(
  ikm: CryptoKey | Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  usages: AesUsage[] = ['encrypt', 'decrypt'],
): Promise<CryptoKey> {
  if (platformHkdf && ikm instanceof Uint8Array) {
    const raw = await hkdfBytes(ikm, salt, info, KEY_BYTES);
    try {
      return await importAesKey(raw, usages);
    } finally {
      wipe(raw);
    }
  }
  const base = await asHkdfKey(ikm);
  return mapErrors('bad_input', 'HKDF failed', () =>
    subtle().deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: toBytes(salt), info: toBytes(info) },
      base,
      { name: 'AES-GCM', length: 256 },
      false,
      usages,
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// AES-256-GCM

export async function importAesKey(
  raw: Uint8Array,
  usages: AesUsage[] = ['encrypt', 'decrypt'],
  extractable = false,
): Promise<CryptoKey> {
  const k = expectLength(raw, KEY_BYTES, 'AES-256 key');
  return mapErrors('bad_input', 'cannot import AES key', () =>
    subtle().importKey('raw', k, { name: 'AES-GCM' }, extractable, usages),
  );
}

function checkAesKey(key: CryptoKey): void {
  if (!(key instanceof CryptoKey) || key.algorithm.name !== 'AES-GCM') {
    throw new CryptoError('bad_input', 'expected an AES-GCM CryptoKey');
  }
}

/** Returns ciphertext ‖ 16-byte tag. */
export async function aesGcmEncrypt(
  key: CryptoKey,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<Bytes> {
  checkAesKey(key);
  const nonce = expectLength(iv, IV_BYTES, 'AES-GCM nonce');
  return mapErrors('bad_input', 'AES-GCM encryption failed', async () => {
    const params = { name: 'AES-GCM', iv: nonce, additionalData: toBytes(aad), tagLength: 128 };
    return new Uint8Array(await subtle().encrypt(params, key, toBytes(plaintext)));
  });
}

/** Any failure (wrong key, AAD, nonce, or a modified byte) is `decrypt_failed`. */
export async function aesGcmDecrypt(
  key: CryptoKey,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Promise<Bytes> {
  checkAesKey(key);
  const nonce = expectLength(iv, IV_BYTES, 'AES-GCM nonce');
  if (ciphertext.length < TAG_BYTES) {
    throw new CryptoError('truncated', 'AES-GCM ciphertext is shorter than its tag');
  }
  return mapErrors('decrypt_failed', 'decryption failed (wrong key, context or data)', async () => {
    if (platformAesGcmDecrypt) {
      if (!key.usages.includes('decrypt')) throw new Error('key not usable for decryption');
      return platformAesGcmDecrypt(key, nonce, toBytes(ciphertext), toBytes(aad));
    }
    const params = { name: 'AES-GCM', iv: nonce, additionalData: toBytes(aad), tagLength: 128 };
    return new Uint8Array(await subtle().decrypt(params, key, toBytes(ciphertext)));
  });
}

/**
 * `aesGcmDecrypt` without a promise, where a platform decrypter is plugged in (the server's):
 * the same checks and the same `decrypt_failed` for any failure. `undefined` when there is none
 * (browsers: WebCrypto only), so the caller uses `aesGcmDecrypt`.
 */
export function aesGcmDecryptSync(
  key: CryptoKey,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Bytes | undefined {
  const decrypt = platformAesGcmDecrypt;
  if (!decrypt) return undefined;
  checkAesKey(key);
  const nonce = expectLength(iv, IV_BYTES, 'AES-GCM nonce');
  if (ciphertext.length < TAG_BYTES) {
    throw new CryptoError('truncated', 'AES-GCM ciphertext is shorter than its tag');
  }
  try {
    if (!key.usages.includes('decrypt')) throw new Error('key not usable for decryption');
    return decrypt(key, nonce, toBytes(ciphertext), toBytes(aad));
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('decrypt_failed', 'decryption failed (wrong key, context or data)', {
      cause: err,
    });
  }
}

/**
 * A synchronous AES-256-GCM decryption a platform may plug in: `ciphertext` ends with the
 * 16-byte tag; throws on any authentication failure and then returns (and leaves) no plaintext.
 * It is handed the CryptoKey itself, never its bytes.
 */
export type AesGcmDecrypter = (key: CryptoKey, iv: Bytes, ciphertext: Bytes, aad: Bytes) => Bytes;
let platformAesGcmDecrypt: AesGcmDecrypter | undefined;

/**
 * Lets a platform plug in a synchronous AES-GCM decryption (the server installs Node's
 * `createDecipheriv` over `KeyObject.from(key)`: the gateway opens dozens of messages per call,
 * and one WebCrypto job each costs more than the decryption). Browsers keep WebCrypto.
 */
export function useAesGcmDecrypter(decrypter: AesGcmDecrypter | undefined): void {
  platformAesGcmDecrypt = decrypter;
}

// ---------------------------------------------------------------------------------------------
// X25519 and Ed25519

// WebCrypto cannot import a raw private key for these curves, only PKCS#8. These are the fixed
// DER prefixes of a PKCS#8 OneAsymmetricKey holding a 32-byte private key (RFC 8410).
const PKCS8_PREFIX = {
  X25519: hexDecode('302e020100300506032b656e04220420'),
  Ed25519: hexDecode('302e020100300506032b657004220420'),
} as const;

type Curve = keyof typeof PKCS8_PREFIX;

export interface RawKeyPair {
  /** The 32-byte private key (X25519 scalar or Ed25519 seed). Wipe it when done. */
  privateRaw: Bytes;
  publicRaw: Bytes;
}

/** Generates a key pair and exports both halves as raw 32-byte strings. */
export async function generateRawKeyPair(curve: Curve): Promise<RawKeyPair> {
  return mapErrors('unsupported', `${curve} is not supported by this platform`, async () => {
    const usages: KeyUsage[] = curve === 'X25519' ? ['deriveBits'] : ['sign', 'verify'];
    const pair = (await subtle().generateKey({ name: curve }, true, usages)) as CryptoKeyPair;
    const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', pair.privateKey));
    const privateRaw = pkcs8.slice(PKCS8_PREFIX[curve].length);
    wipe(pkcs8);
    const publicRaw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
    return { privateRaw, publicRaw };
  });
}

async function importPrivate(curve: Curve, raw: Uint8Array): Promise<CryptoKey> {
  const key = expectLength(raw, 32, `${curve} private key`);
  const pkcs8 = concat(PKCS8_PREFIX[curve], key);
  try {
    return await mapErrors('bad_key', `invalid ${curve} private key`, () =>
      subtle().importKey('pkcs8', pkcs8, { name: curve }, false, [
        curve === 'X25519' ? 'deriveBits' : 'sign',
      ]),
    );
  } finally {
    wipe(pkcs8);
  }
}

/** Non-extractable X25519 private key. Does not wipe `raw`. */
export function importX25519Private(raw: Uint8Array): Promise<CryptoKey> {
  return importPrivate('X25519', raw);
}

/** Non-extractable Ed25519 signing key from its 32-byte seed. Does not wipe `raw`. */
export function importEd25519Private(raw: Uint8Array): Promise<CryptoKey> {
  return importPrivate('Ed25519', raw);
}

/**
 * The Ed25519 key pair of a 32-byte seed: a non-extractable signing key and the raw public key.
 * WebCrypto has no "public key of this seed" call; a JWK export of a transient extractable copy
 * carries it (`x`), and that copy is dropped at once.
 */
export async function ed25519KeyPairFromSeed(
  seed: Uint8Array,
): Promise<{ privateKey: CryptoKey; publicRaw: Bytes }> {
  const pkcs8 = concat(PKCS8_PREFIX.Ed25519, expectLength(seed, 32, 'Ed25519 seed'));
  try {
    const publicRaw = await mapErrors('bad_key', 'invalid Ed25519 seed', async () => {
      const transient = await subtle().importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, [
        'sign',
      ]);
      const jwk = await subtle().exportKey('jwk', transient);
      if (typeof jwk.x !== 'string') throw new Error('no public key in the JWK');
      return base64UrlToBytes(jwk.x);
    });
    return { privateKey: await importEd25519Private(seed), publicRaw };
  } finally {
    wipe(pkcs8);
  }
}

function base64UrlToBytes(s: string): Bytes {
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  return base64Decode(std + '='.repeat((4 - (std.length % 4)) % 4), 32);
}

/** A fresh non-extractable X25519 key pair for one wrap (ephemeral-static ECDH). */
export async function generateEphemeralX25519(): Promise<{
  privateKey: CryptoKey;
  publicRaw: Bytes;
}> {
  return mapErrors('unsupported', 'X25519 is not supported by this platform', async () => {
    const pair = (await subtle().generateKey({ name: 'X25519' }, false, [
      'deriveBits',
    ])) as CryptoKeyPair;
    const publicRaw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
    return { privateKey: pair.privateKey, publicRaw };
  });
}

/**
 * X25519(private, public). WebCrypto (Secure Curves spec) rejects an all-zero result, i.e. a
 * low-order peer key; we re-check so an engine that does not still cannot hand us a weak secret.
 */
export async function x25519(privateKey: CryptoKey, publicRaw: Uint8Array): Promise<Bytes> {
  const pub = expectLength(publicRaw, X25519_PUBLIC_BYTES, 'X25519 public key');
  if (!(privateKey instanceof CryptoKey) || privateKey.algorithm.name !== 'X25519') {
    throw new CryptoError('bad_input', 'expected an X25519 private CryptoKey');
  }
  const shared = await mapErrors(
    'bad_key',
    'X25519 rejected the public key (low order?)',
    async () => {
      if (platformX25519) {
        if (!privateKey.usages.includes('deriveBits')) throw new Error('key cannot derive');
        return platformX25519(privateKey, pub);
      }
      const peer = await subtle().importKey('raw', pub, { name: 'X25519' }, true, []);
      return new Uint8Array(
        await subtle().deriveBits({ name: 'X25519', public: peer }, privateKey, 256),
      );
    },
  );
  if (shared.every((b) => b === 0)) {
    throw new CryptoError('bad_key', 'X25519 shared secret is all zero (low-order public key)');
  }
  return shared;
}

/** A synchronous X25519 a platform may plug in: handed the CryptoKey, never its bytes. */
export type X25519Deriver = (privateKey: CryptoKey, publicRaw: Bytes) => Bytes;
let platformX25519: X25519Deriver | undefined;

/**
 * Lets a platform plug in a synchronous X25519 (the server installs Node's `diffieHellman` over
 * `KeyObject.from(privateKey)`). The all-zero check above still applies. Browsers keep WebCrypto.
 */
export function useX25519(derive: X25519Deriver | undefined): void {
  platformX25519 = derive;
}

export async function ed25519Sign(privateKey: CryptoKey, data: Uint8Array): Promise<Bytes> {
  if (
    !(privateKey instanceof CryptoKey) ||
    privateKey.algorithm.name !== 'Ed25519' ||
    privateKey.type !== 'private'
  ) {
    throw new CryptoError('bad_input', 'expected an Ed25519 private CryptoKey');
  }
  return mapErrors(
    'bad_input',
    'Ed25519 signing failed',
    async () => new Uint8Array(await subtle().sign({ name: 'Ed25519' }, privateKey, toBytes(data))),
  );
}

/**
 * True only for a valid signature. A wrong-size signature is simply invalid; a malformed public
 * key is an error (`bad_length` / `bad_key`) because it means the caller passed the wrong thing.
 */
// Imported Ed25519 public keys, by their bytes. Public keys are not secret and a sender's is
// used for every message it sends, so importing once saves a WebCrypto call per verification.
const VERIFY_KEY_CACHE_SIZE = 1024;
const verifyKeys = new Map<string, CryptoKey>();

async function verifyKey(pub: Uint8Array): Promise<CryptoKey> {
  const id = hexEncode(pub);
  const cached = verifyKeys.get(id);
  if (cached) return cached;
  const key = await mapErrors('bad_key', 'invalid Ed25519 public key', () =>
    subtle().importKey('raw', toBytes(pub), { name: 'Ed25519' }, true, ['verify']),
  );
  if (verifyKeys.size >= VERIFY_KEY_CACHE_SIZE) {
    const oldest = verifyKeys.keys().next().value;
    if (oldest !== undefined) verifyKeys.delete(oldest);
  }
  verifyKeys.set(id, key);
  return key;
}

/** Same contract as WebCrypto's verify: false for a bad signature, throws for a bad key. */
export type Ed25519Verifier = (
  publicRaw: Uint8Array,
  signature: Uint8Array,
  data: Uint8Array,
) => boolean;
let platformVerifier: Ed25519Verifier | undefined;

/**
 * Lets a platform plug in a faster Ed25519 verify (the server installs Node's one-shot
 * `crypto.verify`: same OpenSSL operation, about half WebCrypto's CPU — it runs for every message
 * the server accepts). This module stays free of Node imports, so browsers keep WebCrypto.
 */
export function useEd25519Verifier(verifier: Ed25519Verifier | undefined): void {
  platformVerifier = verifier;
}

/**
 * `ed25519Verify` without a promise, where a platform verifier is plugged in (the server's):
 * the same checks and result. `undefined` when there is none (browsers), so the caller uses
 * `ed25519Verify`.
 */
export function ed25519VerifySync(
  publicRaw: Uint8Array,
  signature: Uint8Array,
  data: Uint8Array,
): boolean | undefined {
  const verify = platformVerifier;
  if (!verify) return undefined;
  const pub = expectLength(publicRaw, ED25519_PUBLIC_BYTES, 'Ed25519 public key');
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return false;
  return verify(pub, signature, data);
}

export async function ed25519Verify(
  publicRaw: Uint8Array,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  const pub = expectLength(publicRaw, ED25519_PUBLIC_BYTES, 'Ed25519 public key');
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return false;
  if (platformVerifier) return platformVerifier(pub, signature, data);
  const key = await verifyKey(pub);
  return mapErrors('bad_signature', 'Ed25519 verification failed', () =>
    subtle().verify({ name: 'Ed25519' }, key, toBytes(signature), toBytes(data)),
  );
}

/** One signer's signature check, its key imported once (see `ed25519Verifier`). */
export type Ed25519Check = (signature: Uint8Array, data: Uint8Array) => Promise<boolean>;

const ED25519 = { name: 'Ed25519' } as const;

/**
 * `ed25519Verify` bound to one public key, for checking many of its signatures (a membership
 * log: a thousand entries by a handful of signers). The key is imported (or its size checked)
 * here, once, instead of on every call; each check then starts its verification at once, so a
 * caller issuing many of them keeps WebCrypto's thread pool busy while it goes on. Same results
 * and errors as `ed25519Verify`.
 */
export async function ed25519Verifier(publicRaw: Uint8Array): Promise<Ed25519Check> {
  const pub = expectLength(publicRaw, ED25519_PUBLIC_BYTES, 'Ed25519 public key').slice();
  const platform = platformVerifier;
  if (platform) {
    return async (signature, data) =>
      signature instanceof Uint8Array &&
      signature.length === SIGNATURE_BYTES &&
      platform(pub, signature, data);
  }
  const key = await verifyKey(pub);
  const asError = (err: unknown) =>
    err instanceof CryptoError
      ? err
      : new CryptoError('bad_signature', 'Ed25519 verification failed', { cause: err });
  const failed = (err: unknown): never => {
    throw asError(err);
  };
  return (signature, data) => {
    if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) {
      return Promise.resolve(false);
    }
    try {
      return subtle().verify(ED25519, key, toBytes(signature), toBytes(data)).catch(failed);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  };
}

/** Checks that `publicRaw` is the X25519 public key of `privateKey` (X25519(priv, 9) = pub). */
export async function x25519MatchesPublic(
  privateKey: CryptoKey,
  publicRaw: Uint8Array,
): Promise<boolean> {
  const base = new Uint8Array(32);
  base[0] = 9;
  const derived = await x25519(privateKey, base);
  const pub = expectLength(publicRaw, 32, 'X25519 public key');
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= derived[i]! ^ pub[i]!;
  wipe(derived);
  return diff === 0;
}
