import { type Bytes, concat, u16be, u32be, utf8Encode } from './bytes.ts';
import { CryptoError } from './errors.ts';

/**
 * Every domain-separation label in one place. Naming rule: `vutler/v1/<purpose>` is an HKDF info,
 * `…/aad` is the AES-GCM additional data of that purpose's envelope, `…/sig` is what an Ed25519
 * signature of that purpose covers. A key or signature made for one purpose therefore never
 * verifies or decrypts in another. Changing any string here is a breaking format change.
 */
export const Label = {
  /** HKDF(S) → authKey, sent to the server at login. */
  auth: 'vutler/v1/auth',
  /** HKDF(S) → kek, wraps the master key. */
  masterKeyWrap: 'vutler/v1/mk-wrap',
  /** AAD of a master-key envelope; binds which wrapper (passphrase or recovery) made it. */
  masterKeyAad: 'vutler/v1/mk-wrap/aad',
  /** HKDF(BIP39 entropy) → recovery key. */
  recovery: 'vutler/v1/recovery',
  /** HKDF(BIP39 entropy) → Ed25519 seed of the recovery key pair (SHA-256 of its public key is `users.backup_phrase_hash`). */
  recoverySigning: 'vutler/v1/recovery-signing',
  /** Signed by the recovery key: email, single-use server nonce. */
  recoverySig: 'vutler/v1/recovery/sig',
  /** HKDF(server secret, email) → deterministic fake KDF salt for unknown emails. */
  fakeSalt: 'vutler/v1/fake-salt',
  /** HKDF(server secret, email) → deterministic choice of a fake KDF cost rung for unknown emails. */
  fakeCost: 'vutler/v1/fake-cost',
  /** AAD of the identity private-key envelope (under MK). */
  identityAad: 'vutler/v1/identity/aad',
  /** Signed statement binding a user's X25519 public key to their Ed25519 key. */
  identitySig: 'vutler/v1/identity/sig',
  /** Prefix hashed into a safety-number fingerprint. */
  fingerprint: 'vutler/v1/fingerprint',
  /** HKDF(X25519 shared secret) → chat-key wrapping key. */
  chatKeyWrap: 'vutler/v1/chat-key-wrap',
  chatKeyWrapAad: 'vutler/v1/chat-key-wrap/aad',
  chatKeyWrapSig: 'vutler/v1/chat-key-wrap/sig',
  /** HKDF(CK) → 32-byte key commitment, published in the membership log for its epoch. */
  chatKeyCommit: 'vutler/v1/chat-key-commit',
  /** What a membership-log entry's signature covers. */
  membershipSig: 'vutler/v1/membership/sig',
  /** SHA-256 of a signed membership-log entry: the next entry's `prevHash`. */
  membershipHash: 'vutler/v1/membership/hash',
  /** A member's signed statement that its client verified a chat's log up to a head. */
  membershipAnchorSig: 'vutler/v1/membership/anchor/sig',
  messageAad: 'vutler/v1/message/aad',
  messageSig: 'vutler/v1/message/sig',
  /** SHA-256 of a message's signature: the link the sender's next message names as `prev`. */
  messageHash: 'vutler/v1/message/hash',
  /** A sender's signed statement that one of its messages is deleted. */
  messageTombstoneSig: 'vutler/v1/message/tombstone/sig',
  /** HKDF(FK, header salt) → chunk key. */
  fileChunk: 'vutler/v1/file-chunk',
  /** HKDF(FK) → metadata key. */
  fileMeta: 'vutler/v1/file-meta',
  fileMetaAad: 'vutler/v1/file-meta/aad',
  /** HKDF(FK) → preview key (PVK). */
  preview: 'vutler/v1/preview',
  previewAad: 'vutler/v1/preview/aad',
  /** AAD of FK wrapped under MK. */
  fileKeyAad: 'vutler/v1/file-key/aad',
  /** HKDF(CK_epoch) → share wrapping key. */
  share: 'vutler/v1/share',
  shareAad: 'vutler/v1/share/aad',
  /** What the sharer's Ed25519 signature over a share covers. */
  shareSig: 'vutler/v1/share/sig',
  /** HKDF(X25519 shared secret with the gateway) → grant wrapping key. */
  grant: 'vutler/v1/grant',
  grantAad: 'vutler/v1/grant/aad',
  grantSig: 'vutler/v1/grant/sig',
  /** What the gateway signs when it pins an owner's identity signing key. */
  gatewayPinSig: 'vutler/v1/gateway-pin/sig',
  /** SHA-256 input of one link of a user's audit hash chain. */
  auditRow: 'vutler/v1/audit-row',
  /** What the gateway signs in an audit checkpoint (user, chain index, head hash). */
  auditCheckpointSig: 'vutler/v1/audit-checkpoint/sig',
  /** AAD of a per-(user, agent) memory key wrapped under MK. */
  memoryKeyAad: 'vutler/v1/memory-key/aad',
  /** AAD and signature input of one memory entry (user, agent, key, entry, writer). */
  memoryEntryAad: 'vutler/v1/memory-entry/aad',
  memoryEntrySig: 'vutler/v1/memory-entry/sig',
} as const;

export type LabelName = keyof typeof Label;

/** Upper bound for an id's UTF-8 encoding; keeps every framed field far below the u16 limit. */
export const MAX_ID_BYTES = 1024;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Encodes an id (chat, message, user, agent, file, share, resource type…) as UTF-8. UUIDs are
 * lower-cased first because Postgres returns them lower-case while a client may have typed them
 * otherwise; any other id is bound exactly as given.
 */
export function idBytes(id: string, what = 'id'): Bytes {
  if (typeof id !== 'string' || id.length === 0) {
    throw new CryptoError('bad_input', `${what} must be a non-empty string`);
  }
  const canonical = UUID_RE.test(id) ? id.toLowerCase() : id;
  const b = utf8Encode(canonical);
  if (b.length > MAX_ID_BYTES) {
    throw new CryptoError('bad_length', `${what} is longer than ${MAX_ID_BYTES} bytes`);
  }
  return b;
}

export function checkEpoch(epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffff_ffff) {
    throw new CryptoError('bad_input', `epoch must be an integer in [0, 2^32), got ${epoch}`);
  }
  return epoch;
}

/** Epochs are bound as 4-byte big-endian integers (still length-prefixed like every field). */
export function epochBytes(epoch: number): Bytes {
  return u32be(checkEpoch(epoch));
}

/**
 * The one framing for HKDF info, AAD and signature inputs:
 * `utf8(label) ‖ 0x00 ‖ (u16be(len) ‖ field)*`. The NUL ends the label, so no label can be read
 * as a prefix of another (e.g. `…/recovery` vs `…/recovery-verifier`), and length prefixes keep
 * (a, bc) and (ab, c) apart.
 */
export function domain(label: (typeof Label)[LabelName], ...fields: Uint8Array[]): Bytes {
  // Written straight into one buffer (same bytes as concat(label, 0, ...lengthPrefixed(f))):
  // a membership log frames thousands of these on a cold start.
  let prefix = LABEL_BYTES.get(label);
  if (!prefix) {
    prefix = concat(utf8Encode(label), Uint8Array.of(0));
    LABEL_BYTES.set(label, prefix);
  }
  let total = prefix.length;
  for (const f of fields) total += 2 + f.length;
  const out = new Uint8Array(total);
  out.set(prefix, 0);
  let off = prefix.length;
  for (const f of fields) {
    if (f.length > 0xffff) u16be(f.length); // throws bad_length, as lengthPrefixed would
    out[off] = f.length >>> 8;
    out[off + 1] = f.length & 0xff;
    out.set(f, off + 2);
    off += 2 + f.length;
  }
  return out;
}

const LABEL_BYTES = new Map<string, Bytes>();
