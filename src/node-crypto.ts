/**
 * The server's Node implementations of src/crypto's platform hooks, beside the one-shot Ed25519
 * verify of ed25519-node.ts: synchronous SHA-256, HKDF, X25519 and AES-256-GCM decryption (no
 * WebCrypto job on the thread pool per message or per grant) and a bounded cache of Ed25519
 * *verification results*.
 *
 * The cache holds no key and no plaintext: its key is SHA-256(public key ‖ signature ‖ signed
 * bytes) — the public key (32 bytes) and the signature (64) have fixed sizes, so the encoding is
 * unambiguous — and an entry only says "this exact triple verified". Only successes are kept. A
 * changed byte anywhere (a tampered message, grant or pin row, another signer key) is another
 * triple, so a miss, so the full verification runs again; a cached pass can only ever answer
 * for the identical bytes it was computed on (short of a SHA-256 collision). See docs/MCP.md.
 */
import {
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  KeyObject,
} from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { wipe } from './crypto/bytes.ts';
import {
  type AesGcmDecrypter,
  type Ed25519Verifier,
  type Hkdf,
  type Sha256,
  useAesGcmDecrypter,
  useEd25519Verifier,
  useHkdf,
  useSha256,
  useX25519,
  type X25519Deriver,
} from './crypto/primitives.ts';
import { nodeEd25519Verify } from './ed25519-node.ts';

const TAG_BYTES = 16;

export const nodeSha256: Sha256 = (data) => {
  const digest = createHash('sha256').update(data).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
};

/**
 * AES-256-GCM through `createDecipheriv` with `KeyObject.from(key)`: the key's bytes stay in
 * OpenSSL's memory, never in a JS buffer, and the KeyObject lives for this one decryption.
 * GCM hands out plaintext before `final()` checks the tag: on a failed check that output is
 * wiped before the error is thrown, so unauthenticated bytes never reach the caller.
 */
export const nodeAesGcmDecrypt: AesGcmDecrypter = (key, iv, ciphertext, aad) => {
  if (ciphertext.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag');
  const decipher = createDecipheriv('aes-256-gcm', KeyObject.from(key), iv, {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
  const out = decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES));
  try {
    // GCM's final() yields no bytes; it only checks the tag (throws when it does not match).
    decipher.final();
  } catch (err) {
    wipe(out);
    throw err;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
};

export const nodeHkdf: Hkdf = (ikm, salt, info, length) =>
  new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));

export const nodeX25519: X25519Deriver = (privateKey, publicRaw) => {
  // A JWK import builds the key from its raw bytes; a DER one goes through OpenSSL 3's
  // decoders, about ten times the CPU here.
  const x = Buffer.from(publicRaw.buffer, publicRaw.byteOffset, publicRaw.byteLength);
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: x.toString('base64url') },
    format: 'jwk',
  });
  const shared = diffieHellman({ privateKey: KeyObject.from(privateKey), publicKey });
  return new Uint8Array(shared.buffer, shared.byteOffset, shared.byteLength);
};

export interface CachedVerifier {
  verify: Ed25519Verifier;
  stats: () => { hits: number; misses: number; size: number };
}

/** `verify` memoised on successes, at most `entries` of them (least recently used goes first). */
export function cachedEd25519Verifier(verify: Ed25519Verifier, entries: number): CachedVerifier {
  const passed = new LRUCache<string, true>({ max: entries });
  let hits = 0;
  let misses = 0;
  return {
    verify: (pub, signature, data) => {
      const id = createHash('sha256').update(pub).update(signature).update(data).digest('base64');
      if (passed.get(id)) {
        hits++;
        return true;
      }
      misses++;
      const ok = verify(pub, signature, data);
      if (ok) passed.set(id, true);
      return ok;
    },
    stats: () => ({ hits, misses, size: passed.size }),
  };
}

let installed: CachedVerifier | undefined;

/**
 * For server processes: Node's SHA-256 and AES-GCM, and Node's Ed25519 verify behind a cache of
 * `verifyCacheEntries` verified signatures (0: no cache, every signature is checked every time).
 */
export function installNodeCrypto(opts: { verifyCacheEntries: number }): void {
  useSha256(nodeSha256);
  useAesGcmDecrypter(nodeAesGcmDecrypt);
  useHkdf(nodeHkdf);
  useX25519(nodeX25519);
  if (opts.verifyCacheEntries > 0) {
    installed = cachedEd25519Verifier(nodeEd25519Verify, opts.verifyCacheEntries);
    useEd25519Verifier(installed.verify);
  } else {
    installed = undefined;
    useEd25519Verifier(nodeEd25519Verify);
  }
}

/** Hit/miss counts of the installed verification cache (for /metrics and the benchmark). */
export function verifyCacheStats() {
  return installed?.stats() ?? { hits: 0, misses: 0, size: 0 };
}
