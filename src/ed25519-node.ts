import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { CryptoError } from './crypto/errors.ts';
import { type Ed25519Verifier, useEd25519Verifier } from './crypto/primitives.ts';

/** SubjectPublicKeyInfo DER of an Ed25519 key, up to the 32 raw key bytes. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_CACHE_SIZE = 1024;
const keys = new Map<string, KeyObject>();

function keyObject(pub: Uint8Array): KeyObject {
  const id = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('hex');
  const cached = keys.get(id);
  if (cached) return cached;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
  } catch {
    throw new CryptoError('bad_key', 'invalid Ed25519 public key');
  }
  if (keys.size >= KEY_CACHE_SIZE) keys.delete(keys.keys().next().value!);
  keys.set(id, key);
  return key;
}

/** Node's one-shot Ed25519 verify with the contract of `ed25519Verify` (sizes already checked). */
export const nodeEd25519Verify: Ed25519Verifier = (pub, signature, data) => {
  const key = keyObject(pub);
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
};

/** For server processes: every `ed25519Verify` (message and wrap signatures) takes Node's path. */
export function installNodeEd25519(): void {
  useEd25519Verifier(nodeEd25519Verify);
}
