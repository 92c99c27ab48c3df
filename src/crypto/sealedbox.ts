import { ByteReader, type Bytes, concat, randomBytes, toBytes, wipe } from './bytes.ts';
import { CryptoError } from './errors.ts';
import type { KeyPair } from './identity.ts';
import { domain, type Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  generateEphemeralX25519,
  hkdfAesKey,
  IV_BYTES,
  SIGNATURE_BYTES,
  TAG_BYTES,
  X25519_PUBLIC_BYTES,
  x25519,
} from './primitives.ts';

/**
 * The signed ephemeral-static box shared by chat-key wraps and agent grants:
 *
 *   body      = 0x01 ‖ eph_pub(32) ‖ iv(12) ‖ AES-256-GCM(wk, payload)(n+16)
 *   envelope  = body ‖ Ed25519(signer, sigPrefix ‖ body)(64)
 *   wk        = HKDF(X25519(eph, recipient), salt = eph_pub ‖ recipient_pub, info = label ‖ 0x00)
 *
 * The signature is checked before any ECDH or decryption, so a forged envelope costs the
 * recipient one verification and reveals nothing through decryption timing.
 */
export const SEALED_BOX_VERSION = 1;

type SealLabel = (typeof Label)['chatKeyWrap' | 'grant'];

export function sealedBodyLength(payloadBytes: number): number {
  return 1 + X25519_PUBLIC_BYTES + IV_BYTES + payloadBytes + TAG_BYTES;
}

export async function sealSigned(opts: {
  label: SealLabel;
  recipientPublicKey: Uint8Array;
  payload: Uint8Array;
  aad: Uint8Array;
  sigPrefix: Uint8Array;
  signingKey: CryptoKey;
}): Promise<Bytes> {
  const eph = await generateEphemeralX25519();
  const shared = await x25519(eph.privateKey, opts.recipientPublicKey);
  try {
    const salt = concat(eph.publicRaw, opts.recipientPublicKey);
    const wk = await hkdfAesKey(shared, salt, domain(opts.label), ['encrypt']);
    const iv = randomBytes(IV_BYTES);
    const ct = await aesGcmEncrypt(wk, iv, opts.payload, opts.aad);
    const body = concat(Uint8Array.of(SEALED_BOX_VERSION), eph.publicRaw, iv, ct);
    const sig = await ed25519Sign(opts.signingKey, concat(opts.sigPrefix, body));
    return concat(body, sig);
  } finally {
    wipe(shared);
  }
}

function split(
  envelope: Uint8Array,
  payloadBytes: number,
  what: string,
): { body: Bytes; sig: Bytes } {
  const bodyLen = sealedBodyLength(payloadBytes);
  const r = new ByteReader(envelope, what);
  r.version(SEALED_BOX_VERSION);
  if (envelope.length === bodyLen) {
    throw new CryptoError('bad_signature', `${what} is unsigned`);
  }
  r.take(bodyLen - 1);
  const sig = r.take(SIGNATURE_BYTES);
  r.end();
  return { body: toBytes(envelope).subarray(0, bodyLen), sig };
}

/** Signature check only; what the server can run on an envelope before storing it. */
export async function verifySealedSignature(opts: {
  envelope: Uint8Array;
  payloadBytes: number;
  sigPrefix: Uint8Array;
  signerPublicKey: Uint8Array;
  what: string;
}): Promise<boolean> {
  const { body, sig } = split(opts.envelope, opts.payloadBytes, opts.what);
  return ed25519Verify(opts.signerPublicKey, sig, concat(opts.sigPrefix, body));
}

/** Verifies the signature against the expected signer, then opens the box. */
export async function openSigned(opts: {
  label: SealLabel;
  recipient: KeyPair;
  envelope: Uint8Array;
  payloadBytes: number;
  aad: Uint8Array;
  sigPrefix: Uint8Array;
  signerPublicKey: Uint8Array;
  what: string;
}): Promise<Bytes> {
  const { body, sig } = split(opts.envelope, opts.payloadBytes, opts.what);
  if (!(await ed25519Verify(opts.signerPublicKey, sig, concat(opts.sigPrefix, body)))) {
    throw new CryptoError('bad_signature', `${opts.what} is not signed by the expected key`);
  }
  const r = new ByteReader(body, opts.what);
  r.version(SEALED_BOX_VERSION);
  const ephPub = r.take(X25519_PUBLIC_BYTES);
  const iv = r.take(IV_BYTES);
  const ct = r.rest();
  const shared = await x25519(opts.recipient.privateKey, ephPub);
  try {
    const salt = concat(ephPub, opts.recipient.publicKey);
    const wk = await hkdfAesKey(shared, salt, domain(opts.label), ['decrypt']);
    return await aesGcmDecrypt(wk, iv, ct, opts.aad);
  } finally {
    wipe(shared);
  }
}
