import { ByteReader, type Bytes, concat, randomBytes, wipe } from './bytes.ts';
import { CryptoError, mapErrors } from './errors.ts';
import { domain, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  IV_BYTES,
  KEY_BYTES,
  subtle,
  TAG_BYTES,
} from './primitives.ts';

/**
 * Master key envelope (`users.master_key_encrypted`, and `encryption_keys` type `master`):
 *   0x01 ‖ iv(12) ‖ AES-256-GCM(wrappingKey, MK(32)) (48)          = 61 bytes
 *   AAD = "vutler/v1/mk-wrap/aad" ‖ 0x00 ‖ lp(kind)   kind ∈ {"passphrase", "recovery"}
 */
export const MASTER_KEY_ENVELOPE_VERSION = 1;
export const MASTER_KEY_ENVELOPE_BYTES = 1 + IV_BYTES + KEY_BYTES + TAG_BYTES;

export type MasterKeyWrapper = 'passphrase' | 'recovery';

/** The usages every MK CryptoKey carries: it encrypts identity private keys and file keys. */
const MK_USAGES: KeyUsage[] = ['encrypt', 'decrypt'];

function aad(kind: MasterKeyWrapper): Bytes {
  if (kind !== 'passphrase' && kind !== 'recovery') {
    throw new CryptoError('bad_input', `unknown master-key wrapper kind ${String(kind)}`);
  }
  return domain(Label.masterKeyAad, new TextEncoder().encode(kind));
}

async function seal(
  raw: Uint8Array,
  wrappingKey: CryptoKey,
  kind: MasterKeyWrapper,
): Promise<Bytes> {
  const iv = randomBytes(IV_BYTES);
  const ct = await aesGcmEncrypt(wrappingKey, iv, raw, aad(kind));
  return concat(Uint8Array.of(MASTER_KEY_ENVELOPE_VERSION), iv, ct);
}

function parse(envelope: Uint8Array): { iv: Bytes; ct: Bytes } {
  const r = new ByteReader(envelope, 'master-key envelope');
  r.version(MASTER_KEY_ENVELOPE_VERSION);
  const iv = r.take(IV_BYTES);
  const ct = r.take(KEY_BYTES + TAG_BYTES);
  r.end();
  return { iv, ct };
}

export interface NewMasterKey {
  /** Non-extractable AES-256-GCM key for this session. */
  masterKey: CryptoKey;
  /** For `users.master_key_encrypted`. */
  wrappedForPassphrase: Bytes;
  /** For `encryption_keys` (type `master`). */
  wrappedForRecovery: Bytes;
}

/**
 * MK = 32 random bytes, wrapped under both kek and the recovery key. The raw bytes exist only
 * inside this call and are wiped before it returns.
 */
export async function createMasterKey(wrappers: {
  kek: CryptoKey;
  recoveryKey: CryptoKey;
}): Promise<NewMasterKey> {
  const raw = randomBytes(KEY_BYTES);
  try {
    const wrappedForPassphrase = await seal(raw, wrappers.kek, 'passphrase');
    const wrappedForRecovery = await seal(raw, wrappers.recoveryKey, 'recovery');
    const masterKey = await mapErrors('bad_input', 'cannot import master key', () =>
      subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, MK_USAGES),
    );
    return { masterKey, wrappedForPassphrase, wrappedForRecovery };
  } finally {
    wipe(raw);
  }
}

/**
 * Opens an MK envelope into a non-extractable key. Uses `unwrapKey` so the raw MK never appears
 * in JavaScript memory on this path.
 */
export async function unwrapMasterKey(
  wrappingKey: CryptoKey,
  kind: MasterKeyWrapper,
  envelope: Uint8Array,
): Promise<CryptoKey> {
  const { iv, ct } = parse(envelope);
  const additionalData = aad(kind);
  return mapErrors('decrypt_failed', 'cannot open master key (wrong passphrase or phrase?)', () =>
    subtle().unwrapKey(
      'raw',
      ct,
      wrappingKey,
      { name: 'AES-GCM', iv, additionalData, tagLength: 128 },
      { name: 'AES-GCM' },
      false,
      MK_USAGES,
    ),
  );
}

/**
 * Re-wraps MK from one wrapper to another: a passphrase change (passphrase → passphrase) or a
 * recovery (recovery → passphrase). The raw MK is wiped before returning.
 */
export async function rewrapMasterKey(
  from: { key: CryptoKey; kind: MasterKeyWrapper; envelope: Uint8Array },
  to: { key: CryptoKey; kind: MasterKeyWrapper },
): Promise<Bytes> {
  const { iv, ct } = parse(from.envelope);
  const raw = await aesGcmDecrypt(from.key, iv, ct, aad(from.kind));
  try {
    return await seal(raw, to.key, to.kind);
  } finally {
    wipe(raw);
  }
}
