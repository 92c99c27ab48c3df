import { entropyToMnemonic, generateMnemonic, mnemonicToEntropy } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import {
  type Bytes,
  constantTimeEqual,
  expectLength,
  hexDecode,
  hexEncode,
  randomBytes,
  utf8Encode,
  wipe,
} from './bytes.ts';
import { CryptoError } from './errors.ts';
import { domain, Label } from './labels.ts';
import {
  ed25519KeyPairFromSeed,
  ed25519Sign,
  ed25519Verify,
  hkdfAesKey,
  hkdfBytes,
  importHkdfKey,
  sha256,
} from './primitives.ts';

/** 24 words = 256 bits of entropy; shorter phrases are refused. */
export const RECOVERY_WORDS = 24;
const ENTROPY_BYTES = 32;

export function generateRecoveryPhrase(): string {
  return generateMnemonic(wordlist, ENTROPY_BYTES * 8);
}

/** Lower-cases and collapses whitespace, so pasted or hand-typed phrases compare equal. */
export function normalizeRecoveryPhrase(phrase: string): string {
  if (typeof phrase !== 'string') throw new CryptoError('bad_phrase', 'phrase must be a string');
  return phrase.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ');
}

function phraseEntropy(phrase: string): Uint8Array {
  const normalized = normalizeRecoveryPhrase(phrase);
  const words = normalized.split(' ');
  if (words.length !== RECOVERY_WORDS) {
    throw new CryptoError('bad_phrase', `recovery phrase must have ${RECOVERY_WORDS} words`);
  }
  for (const [i, w] of words.entries()) {
    if (!wordlist.includes(w))
      throw new CryptoError('bad_phrase', `word ${i + 1} is not a BIP39 word`);
  }
  try {
    return mnemonicToEntropy(normalized, wordlist);
  } catch (err) {
    throw new CryptoError('bad_phrase', 'recovery phrase checksum does not match', { cause: err });
  }
}

export function isValidRecoveryPhrase(phrase: string): boolean {
  try {
    wipe(phraseEntropy(phrase));
    return true;
  } catch {
    return false;
  }
}

export interface RecoverySecrets {
  /** Non-extractable AES-256-GCM key that wraps the master key. */
  recoveryKey: CryptoKey;
  /** Non-extractable Ed25519 key that answers the server's recovery challenge. */
  signingKey: CryptoKey;
  /** Its public key: what setup uploads (`users.recovery_public_key`). */
  publicKey: Bytes;
  /** `users.backup_phrase_hash`: 64 lower-case hex chars, = hex(SHA-256(publicKey)). */
  verifier: string;
}

/**
 * RK = HKDF(entropy, "vutler/v1/recovery"); the recovery key pair is Ed25519 from the seed
 * HKDF(entropy, "vutler/v1/recovery-signing"). The two HKDF outputs are independent, so the
 * public key reveals nothing about RK, and the phrase's 256-bit entropy defeats guessing. The
 * server keeps only the public key: a database dump cannot pass recovery, and since every answer
 * signs a fresh single-use nonce, a recorded answer cannot either.
 */
export async function deriveRecoverySecrets(phrase: string): Promise<RecoverySecrets> {
  const entropy = phraseEntropy(phrase);
  let seed: Uint8Array | undefined;
  try {
    const base = await importHkdfKey(entropy);
    const empty = new Uint8Array(0);
    const recoveryKey = await hkdfAesKey(base, empty, domain(Label.recovery), [
      'encrypt',
      'decrypt',
      'unwrapKey',
    ]);
    seed = await hkdfBytes(base, empty, domain(Label.recoverySigning), 32);
    const { privateKey, publicRaw } = await ed25519KeyPairFromSeed(seed);
    return {
      recoveryKey,
      signingKey: privateKey,
      publicKey: publicRaw,
      verifier: await recoveryVerifierOfPublicKey(publicRaw),
    };
  } finally {
    wipe(entropy, seed);
  }
}

/** verifier = hex(SHA-256(public key)): what `users.backup_phrase_hash` holds. */
export async function recoveryVerifierOfPublicKey(publicKey: Uint8Array): Promise<string> {
  return hexEncode(await sha256(expectLength(publicKey, 32, 'recovery public key')));
}

export const RECOVERY_NONCE_BYTES = 32;

function challengeInput(email: string, nonce: Uint8Array): Bytes {
  if (typeof email !== 'string' || email.trim() === '') {
    throw new CryptoError('bad_input', 'email must be a non-empty string');
  }
  return domain(
    Label.recoverySig,
    utf8Encode(email.trim().toLowerCase()),
    expectLength(nonce, RECOVERY_NONCE_BYTES, 'recovery nonce'),
  );
}

/** The answer to a recovery challenge: Ed25519 over (label, email, nonce). */
export async function signRecoveryChallenge(
  signingKey: CryptoKey,
  email: string,
  nonce: Uint8Array,
): Promise<Bytes> {
  return ed25519Sign(signingKey, challengeInput(email, nonce));
}

export async function verifyRecoveryChallenge(
  publicKey: Uint8Array,
  email: string,
  nonce: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return ed25519Verify(publicKey, signature, challengeInput(email, nonce));
}

/** Throws `bad_key`/`bad_length` unless `publicKey` is a usable Ed25519 public key. */
export async function assertRecoveryPublicKey(publicKey: Uint8Array): Promise<void> {
  // Verification imports the key first; a signature of zeros simply does not verify.
  await ed25519Verify(publicKey, new Uint8Array(64), new Uint8Array(0));
}

/** Compares a phrase's verifier with the stored one in constant time. */
export async function checkRecoveryVerifier(phrase: string, stored: string): Promise<boolean> {
  if (typeof stored !== 'string') throw new CryptoError('bad_encoding', 'verifier must be hex');
  const { verifier } = await deriveRecoverySecrets(phrase);
  return constantTimeEqual(hexDecode(verifier, 32), hexDecode(stored.toLowerCase(), 32));
}

/**
 * Setup asks the user to re-type a few words before enabling encryption. Returns distinct
 * 0-based word positions in ascending order.
 */
export function pickConfirmationPositions(count = 3): number[] {
  if (!Number.isInteger(count) || count < 1 || count > RECOVERY_WORDS) {
    throw new CryptoError('bad_input', `count must be 1..${RECOVERY_WORDS}`);
  }
  const picked = new Set<number>();
  while (picked.size < count) {
    // Rejection sampling: 256 % 24 ≠ 0, so drop bytes ≥ 240 to keep positions uniform.
    const b = randomBytes(1)[0]!;
    if (b < 240) picked.add(b % RECOVERY_WORDS);
  }
  return [...picked].sort((a, b) => a - b);
}

/** True when every answer matches the word at its position. */
export function confirmRecoveryWords(
  phrase: string,
  answers: readonly { position: number; word: string }[],
): boolean {
  const words = normalizeRecoveryPhrase(phrase).split(' ');
  if (answers.length === 0) return false;
  return answers.every(
    (a) =>
      Number.isInteger(a.position) &&
      typeof a.word === 'string' &&
      words[a.position] !== undefined &&
      words[a.position] === a.word.trim().toLowerCase(),
  );
}

/** For tests and migration tooling: the phrase for known entropy. */
export function recoveryPhraseFromEntropy(entropy: Uint8Array): string {
  if (!(entropy instanceof Uint8Array) || entropy.length !== ENTROPY_BYTES) {
    throw new CryptoError('bad_length', `entropy must be ${ENTROPY_BYTES} bytes`);
  }
  return entropyToMnemonic(entropy, wordlist);
}
