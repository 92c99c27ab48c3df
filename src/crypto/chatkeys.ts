import { type Bytes, constantTimeEqual, expectLength, randomBytes, wipe } from './bytes.ts';
import { CryptoError, mapErrors } from './errors.ts';
import type { KeyPair } from './identity.ts';
import { checkEpoch, domain, epochBytes, idBytes, Label } from './labels.ts';
import { hkdfAesKey, hkdfBytes, KEY_BYTES, subtle } from './primitives.ts';
import { openSigned, sealedBodyLength, sealSigned, verifySealedSignature } from './sealedbox.ts';

/**
 * A chat's key for one epoch. `messageKey` is CK itself as an AES-256-GCM key (messages);
 * `shareKey` is HKDF(CK, "vutler/v1/share") (file shares). Both are non-extractable unless the key
 * was created here or unwrapped with `exportable: true` — only then can it be re-wrapped for a new
 * member or granted to an agent. `commitment` = HKDF(CK, info = "vutler/v1/chat-key-commit" ‖
 * 0x00 ‖ lp(chatId) ‖ lp(u32be epoch)), 32 bytes: the membership log publishes it for the epoch,
 * wraps and message AADs bind it, so two members cannot be handed different keys for one epoch
 * (AES-GCM alone is not key-committing).
 */
export interface ChatKey {
  readonly chatId: string;
  readonly epoch: number;
  readonly messageKey: CryptoKey;
  readonly shareKey: CryptoKey;
  readonly commitment: Bytes;
  readonly exportable: boolean;
}

export const KEY_COMMITMENT_BYTES = 32;

export function chatKeyCommitment(raw: Uint8Array, chatId: string, epoch: number): Promise<Bytes> {
  return hkdfBytes(
    expectLength(raw, KEY_BYTES, 'chat key'),
    new Uint8Array(0),
    domain(Label.chatKeyCommit, idBytes(chatId, 'chat id'), epochBytes(epoch)),
    KEY_COMMITMENT_BYTES,
  );
}

/** Throws `commitment_mismatch` unless `key` is the one the log committed to for its epoch. */
export function assertChatKeyCommitment(key: ChatKey, expected: Uint8Array): void {
  if (expected.length !== KEY_COMMITMENT_BYTES || !constantTimeEqual(key.commitment, expected)) {
    throw new CryptoError(
      'commitment_mismatch',
      `chat key of epoch ${key.epoch} does not match the commitment in the membership log`,
    );
  }
}

/**
 * Chat-key wrap (`encryption_keys` type `session`), a signed sealed box (see sealedbox.ts):
 *   0x01 ‖ eph_pub(32) ‖ iv(12) ‖ AES-GCM(wk, CK)(48) ‖ sig(64)          = 157 bytes
 *   wk  = HKDF(X25519(eph, member), salt = eph_pub ‖ member_pub, "vutler/v1/chat-key-wrap")
 *   AAD = "vutler/v1/chat-key-wrap/aad" ‖ 0x00 ‖ lp(chatId) ‖ lp(u32be epoch) ‖ lp(memberId) ‖
 *         lp(commitment)
 *   sig = Ed25519(wrapper, "vutler/v1/chat-key-wrap/sig" ‖ 0x00 ‖ lp(chatId) ‖ lp(epoch) ‖
 *         lp(memberId) ‖ lp(wrapperId) ‖ lp(commitment) ‖ body)
 * `commitment` is the epoch's key commitment (see ChatKey); the server checks it against the
 * membership log before storing a wrap, the recipient recomputes it from the unwrapped key.
 */
export const CHAT_KEY_WRAP_BYTES = sealedBodyLength(KEY_BYTES) + 64;

export async function importChatKey(
  raw: Uint8Array,
  chatId: string,
  epoch: number,
  exportable: boolean,
): Promise<ChatKey> {
  idBytes(chatId, 'chat id');
  checkEpoch(epoch);
  const key = expectLength(raw, KEY_BYTES, 'chat key');
  const messageKey = await mapErrors('bad_input', 'cannot import chat key', () =>
    subtle().importKey('raw', key, { name: 'AES-GCM' }, exportable, ['encrypt', 'decrypt']),
  );
  const shareKey = await hkdfAesKey(key, new Uint8Array(0), domain(Label.share));
  const commitment = await chatKeyCommitment(key, chatId, epoch);
  return Object.freeze({ chatId, epoch, messageKey, shareKey, commitment, exportable });
}

/** Raw CK for re-wrapping; the caller wipes it. */
export async function exportChatKeyRaw(chatKey: ChatKey): Promise<Bytes> {
  if (!chatKey.exportable || !chatKey.messageKey.extractable) {
    throw new CryptoError(
      'not_extractable',
      'chat key was unwrapped non-exportable; unwrap it with { exportable: true } to re-wrap it',
    );
  }
  return new Uint8Array(await subtle().exportKey('raw', chatKey.messageKey));
}

/** A fresh CK for a new chat or a rotation. Exportable, because it must be wrapped to members. */
export async function generateChatKey(chatId: string, epoch: number): Promise<ChatKey> {
  const raw = randomBytes(KEY_BYTES);
  try {
    return await importChatKey(raw, chatId, epoch, true);
  } finally {
    wipe(raw);
  }
}

export interface ChatKeyRecipient {
  memberId: string;
  /** The member's X25519 public key — verify their identity binding first. */
  x25519PublicKey: Uint8Array;
}

export interface Signer {
  id: string;
  /** Ed25519 private CryptoKey. */
  signingKey: CryptoKey;
}

function checkCommitment(c: Uint8Array): Uint8Array {
  return expectLength(c, KEY_COMMITMENT_BYTES, 'key commitment');
}

function wrapAad(chatId: string, epoch: number, memberId: string, commitment: Uint8Array): Bytes {
  return domain(
    Label.chatKeyWrapAad,
    idBytes(chatId, 'chat id'),
    epochBytes(epoch),
    idBytes(memberId, 'member id'),
    checkCommitment(commitment),
  );
}

function wrapSigPrefix(
  chatId: string,
  epoch: number,
  memberId: string,
  wrapperId: string,
  commitment: Uint8Array,
): Bytes {
  return domain(
    Label.chatKeyWrapSig,
    idBytes(chatId, 'chat id'),
    epochBytes(epoch),
    idBytes(memberId, 'member id'),
    idBytes(wrapperId, 'wrapper id'),
    checkCommitment(commitment),
  );
}

/** Wraps CK to one member, signed by the member making the wrap. */
export async function wrapChatKey(
  chatKey: ChatKey,
  recipient: ChatKeyRecipient,
  wrapper: Signer,
): Promise<Bytes> {
  const aad = wrapAad(chatKey.chatId, chatKey.epoch, recipient.memberId, chatKey.commitment);
  const sigPrefix = wrapSigPrefix(
    chatKey.chatId,
    chatKey.epoch,
    recipient.memberId,
    wrapper.id,
    chatKey.commitment,
  );
  const raw = await exportChatKeyRaw(chatKey);
  try {
    return await sealSigned({
      label: Label.chatKeyWrap,
      recipientPublicKey: recipient.x25519PublicKey,
      payload: raw,
      aad,
      sigPrefix,
      signingKey: wrapper.signingKey,
    });
  } finally {
    wipe(raw);
  }
}

export interface UnwrapChatKeyParams {
  chatId: string;
  epoch: number;
  envelope: Uint8Array;
  /** The member opening the wrap: their id and X25519 key pair. */
  member: { id: string; x25519: KeyPair };
  /** Who the wrap claims to come from and that person's registered Ed25519 public key. */
  wrapper: { id: string; ed25519PublicKey: Uint8Array };
  /** The epoch's key commitment from the verified membership log. */
  commitment: Uint8Array;
  /** Keep CK re-wrappable (to add members or grant agents). Default false. */
  exportable?: boolean;
}

/**
 * Rejects (`bad_signature`) any wrap not signed by the expected wrapper, decrypts, and rejects
 * (`commitment_mismatch`) a key other than the one committed to for the epoch.
 */
export async function unwrapChatKey(p: UnwrapChatKeyParams): Promise<ChatKey> {
  const raw = await openSigned({
    label: Label.chatKeyWrap,
    recipient: p.member.x25519,
    envelope: p.envelope,
    payloadBytes: KEY_BYTES,
    aad: wrapAad(p.chatId, p.epoch, p.member.id, p.commitment),
    sigPrefix: wrapSigPrefix(p.chatId, p.epoch, p.member.id, p.wrapper.id, p.commitment),
    signerPublicKey: p.wrapper.ed25519PublicKey,
    what: 'chat-key wrap',
  });
  try {
    const key = await importChatKey(raw, p.chatId, p.epoch, p.exportable === true);
    assertChatKeyCommitment(key, p.commitment);
    return key;
  } finally {
    wipe(raw);
  }
}

/**
 * Signature check without any private key, for the server to refuse storing a wrap that its
 * claimed wrapper did not sign. Malformed envelopes throw; a wrong signature returns false.
 */
export async function verifyChatKeyWrapSignature(p: {
  chatId: string;
  epoch: number;
  memberId: string;
  wrapperId: string;
  wrapperEd25519PublicKey: Uint8Array;
  envelope: Uint8Array;
  commitment: Uint8Array;
}): Promise<boolean> {
  return verifySealedSignature({
    envelope: p.envelope,
    payloadBytes: KEY_BYTES,
    sigPrefix: wrapSigPrefix(p.chatId, p.epoch, p.memberId, p.wrapperId, p.commitment),
    signerPublicKey: p.wrapperEd25519PublicKey,
    what: 'chat-key wrap',
  });
}
