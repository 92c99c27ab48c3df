import {
  ByteReader,
  type Bytes,
  base64Decode,
  base64Encode,
  concat,
  expectLength,
  randomBytes,
  wipe,
} from './bytes.ts';
import { CryptoError } from './errors.ts';
import { domain, idBytes, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ED25519_PUBLIC_BYTES,
  ed25519Sign,
  ed25519Verify,
  generateRawKeyPair,
  IV_BYTES,
  importEd25519Private,
  importX25519Private,
  SIGNATURE_BYTES,
  sha256,
  TAG_BYTES,
  X25519_PUBLIC_BYTES,
  x25519MatchesPublic,
} from './primitives.ts';

/**
 * Identity private-key envelope (`encryption_keys` type `identity`), under MK:
 *   0x01 ‖ iv(12) ‖ AES-256-GCM(MK, x25519Priv ‖ ed25519Seed ‖ x25519Pub ‖ ed25519Pub) (128+16)
 *   AAD = "vutler/v1/identity/aad" ‖ 0x00 ‖ lp(userId)
 * Public keys ride inside so that unwrapping can check they belong to the private keys.
 */
export const IDENTITY_ENVELOPE_VERSION = 1;
export const IDENTITY_ENVELOPE_BYTES = 1 + IV_BYTES + 128 + TAG_BYTES;

export interface KeyPair {
  /** Non-extractable. */
  privateKey: CryptoKey;
  publicKey: Bytes;
}

/** A person's (or the gateway's) long-term keys: X25519 receives wrapped keys, Ed25519 signs. */
export interface IdentityKeys {
  x25519: KeyPair;
  ed25519: KeyPair;
}

/** What everyone may see: the public keys and the Ed25519 signature binding them to the user. */
export interface IdentityPublic {
  userId: string;
  x25519PublicKey: Bytes;
  ed25519PublicKey: Bytes;
  /** Ed25519 over "vutler/v1/identity/sig" ‖ 0x00 ‖ lp(userId) ‖ lp(x25519Pub) ‖ lp(ed25519Pub). */
  signature: Bytes;
}

export interface IdentityPublicJson {
  userId: string;
  x25519: string;
  ed25519: string;
  signature: string;
}

function bindingInput(userId: string, x25519Pub: Uint8Array, ed25519Pub: Uint8Array): Bytes {
  return domain(Label.identitySig, idBytes(userId, 'user id'), x25519Pub, ed25519Pub);
}

/** Imports raw private halves (non-extractable) and checks they match the public halves. */
export async function importKeyPairs(
  x25519Private: Uint8Array,
  x25519Public: Uint8Array,
  ed25519Seed: Uint8Array,
  ed25519Public: Uint8Array,
): Promise<IdentityKeys> {
  const xPub = expectLength(x25519Public, X25519_PUBLIC_BYTES, 'X25519 public key').slice();
  const edPub = expectLength(ed25519Public, ED25519_PUBLIC_BYTES, 'Ed25519 public key').slice();
  const xKey = await importX25519Private(x25519Private);
  const edKey = await importEd25519Private(ed25519Seed);
  if (!(await x25519MatchesPublic(xKey, xPub))) {
    throw new CryptoError('bad_key', 'X25519 public key does not match the private key');
  }
  const probe = randomBytes(32);
  if (!(await ed25519Verify(edPub, await ed25519Sign(edKey, probe), probe))) {
    throw new CryptoError('bad_key', 'Ed25519 public key does not match the private key');
  }
  return {
    x25519: { privateKey: xKey, publicKey: xPub },
    ed25519: { privateKey: edKey, publicKey: edPub },
  };
}

/**
 * Fresh X25519 + Ed25519 key pairs, returned as non-extractable keys plus the raw private bytes
 * (wiped by the caller once wrapped or serialised).
 */
export async function generateKeyPairsRaw(): Promise<{
  keys: IdentityKeys;
  raw: { x25519Private: Bytes; x25519Public: Bytes; ed25519Seed: Bytes; ed25519Public: Bytes };
}> {
  const x = await generateRawKeyPair('X25519');
  const ed = await generateRawKeyPair('Ed25519');
  const keys = await importKeyPairs(x.privateRaw, x.publicRaw, ed.privateRaw, ed.publicRaw);
  return {
    keys,
    raw: {
      x25519Private: x.privateRaw,
      x25519Public: x.publicRaw,
      ed25519Seed: ed.privateRaw,
      ed25519Public: ed.publicRaw,
    },
  };
}

export interface NewIdentity {
  keys: IdentityKeys;
  publicIdentity: IdentityPublic;
  /** For `encryption_keys` (type `identity`). */
  wrappedPrivate: Bytes;
}

/** Generates a user's identity, signs the X25519 key with the Ed25519 key, wraps both under MK. */
export async function createIdentity(masterKey: CryptoKey, userId: string): Promise<NewIdentity> {
  const aad = domain(Label.identityAad, idBytes(userId, 'user id'));
  const { keys, raw } = await generateKeyPairsRaw();
  const payload = concat(raw.x25519Private, raw.ed25519Seed, raw.x25519Public, raw.ed25519Public);
  try {
    const iv = randomBytes(IV_BYTES);
    const ct = await aesGcmEncrypt(masterKey, iv, payload, aad);
    const wrappedPrivate = concat(Uint8Array.of(IDENTITY_ENVELOPE_VERSION), iv, ct);
    const signature = await ed25519Sign(
      keys.ed25519.privateKey,
      bindingInput(userId, keys.x25519.publicKey, keys.ed25519.publicKey),
    );
    const publicIdentity: IdentityPublic = {
      userId,
      x25519PublicKey: keys.x25519.publicKey,
      ed25519PublicKey: keys.ed25519.publicKey,
      signature,
    };
    return { keys, publicIdentity, wrappedPrivate };
  } finally {
    wipe(payload, raw.x25519Private, raw.ed25519Seed);
  }
}

/** Opens the identity envelope under MK into non-extractable keys. */
export async function unwrapIdentity(
  masterKey: CryptoKey,
  userId: string,
  envelope: Uint8Array,
): Promise<IdentityKeys> {
  const aad = domain(Label.identityAad, idBytes(userId, 'user id'));
  const r = new ByteReader(envelope, 'identity envelope');
  r.version(IDENTITY_ENVELOPE_VERSION);
  const iv = r.take(IV_BYTES);
  const ct = r.take(128 + TAG_BYTES);
  r.end();
  const payload = await aesGcmDecrypt(masterKey, iv, ct, aad);
  try {
    return await importKeyPairs(
      payload.subarray(0, 32),
      payload.subarray(64, 96),
      payload.subarray(32, 64),
      payload.subarray(96, 128),
    );
  } finally {
    wipe(payload);
  }
}

/** Checks the binding signature. Clients must do this before trusting a member's X25519 key. */
export async function verifyIdentityPublic(id: IdentityPublic): Promise<boolean> {
  const x = expectLength(id.x25519PublicKey, X25519_PUBLIC_BYTES, 'X25519 public key');
  const ed = expectLength(id.ed25519PublicKey, ED25519_PUBLIC_BYTES, 'Ed25519 public key');
  if (!(id.signature instanceof Uint8Array) || id.signature.length !== SIGNATURE_BYTES)
    return false;
  return ed25519Verify(ed, id.signature, bindingInput(id.userId, x, ed));
}

/** Like `verifyIdentityPublic` but throws `bad_signature`. */
export async function assertIdentityPublic(id: IdentityPublic): Promise<void> {
  if (!(await verifyIdentityPublic(id))) {
    throw new CryptoError('bad_signature', `identity of ${id.userId} has an invalid signature`);
  }
}

export function identityPublicToJson(id: IdentityPublic): IdentityPublicJson {
  return {
    userId: id.userId,
    x25519: base64Encode(id.x25519PublicKey),
    ed25519: base64Encode(id.ed25519PublicKey),
    signature: base64Encode(id.signature),
  };
}

/** Parses the JSON form (shape and sizes only — call `verifyIdentityPublic` to check it). */
export function identityPublicFromJson(json: unknown): IdentityPublic {
  if (typeof json !== 'object' || json === null) {
    throw new CryptoError('bad_encoding', 'identity must be a JSON object');
  }
  const o = json as Record<string, unknown>;
  for (const k of ['userId', 'x25519', 'ed25519', 'signature']) {
    if (typeof o[k] !== 'string')
      throw new CryptoError('bad_encoding', `identity.${k} must be a string`);
  }
  idBytes(o.userId as string, 'user id');
  return {
    userId: o.userId as string,
    x25519PublicKey: base64Decode(o.x25519 as string, X25519_PUBLIC_BYTES),
    ed25519PublicKey: base64Decode(o.ed25519 as string, ED25519_PUBLIC_BYTES),
    signature: base64Decode(o.signature as string, SIGNATURE_BYTES),
  };
}

export interface PublicKeys {
  x25519PublicKey: Uint8Array;
  ed25519PublicKey: Uint8Array;
}

/** SHA-256("vutler/v1/fingerprint" ‖ 0x00 ‖ lp(ed25519Pub) ‖ lp(x25519Pub)): 32 bytes. */
export async function fingerprintDigest(keys: PublicKeys): Promise<Bytes> {
  const ed = expectLength(keys.ed25519PublicKey, ED25519_PUBLIC_BYTES, 'Ed25519 public key');
  const x = expectLength(keys.x25519PublicKey, X25519_PUBLIC_BYTES, 'X25519 public key');
  return sha256(domain(Label.fingerprint, ed, x));
}

/** The 30 digits shown for one fingerprint digest (see `fingerprint`). */
export function fingerprintDigits(digest: Uint8Array): string {
  const d = expectLength(digest, 32, 'fingerprint digest');
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + d[g * 5 + i]!;
    groups.push(String(v % 100_000).padStart(5, '0'));
  }
  return groups.join(' ');
}

/**
 * 30 digits in six groups of five, from SHA-256("vutler/v1/fingerprint" ‖ 0x00 ‖ lp(ed25519Pub) ‖
 * lp(x25519Pub)): each group is a 40-bit big-endian chunk of the digest mod 100 000 (≈100 bits).
 */
export async function fingerprint(keys: PublicKeys): Promise<string> {
  return fingerprintDigits(await fingerprintDigest(keys));
}

/**
 * The number two people compare: both fingerprints, lower one first, so each side computes the
 * same 60 digits (twelve groups) regardless of who is "mine" and who is "theirs".
 */
export async function safetyNumber(a: PublicKeys, b: PublicKeys): Promise<string> {
  const [fa, fb] = await Promise.all([fingerprint(a), fingerprint(b)]);
  return fa <= fb ? `${fa} ${fb}` : `${fb} ${fa}`;
}
