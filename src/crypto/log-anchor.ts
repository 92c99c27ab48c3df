import { type Bytes, base64Decode, base64Encode, expectLength, u32be } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { domain, idBytes, Label } from './labels.ts';
import { LOG_HASH_BYTES } from './membership.ts';
import { ed25519Sign, ed25519Verify, SIGNATURE_BYTES } from './primitives.ts';

/**
 * A log anchor: a member's signed statement that its client verified the first `length` entries
 * of a chat's membership log, the last of which hashes to `head` (docs/CRYPTO.md "Trust
 * anchors"). A new device of that member, which holds nothing yet, checks signatures only from
 * there on: the hash chain binds every earlier entry to `head`.
 *
 *   signed    = "vutler/v1/membership/anchor/sig" ‖ 0x00 ‖ lp(chatId) ‖ lp(userId) ‖
 *               lp(u32be length) ‖ lp(head 32)
 *   signature = Ed25519(user's identity key, signed)
 *
 * The chat and the user are not on the wire: a verifier binds the ones it means, so an anchor of
 * another chat or another user does not verify.
 */
export interface LogAnchor {
  chatId: string;
  userId: string;
  length: number;
  head: Uint8Array;
  signature: Uint8Array;
}

export interface LogAnchorJson {
  length: number;
  head: string;
  signature: string;
}

function anchorInput(a: Omit<LogAnchor, 'signature'>): Bytes {
  if (!Number.isInteger(a.length) || a.length < 1 || a.length > 0xffff_ffff) {
    throw new CryptoError('bad_input', 'an anchor covers between 1 and 2^32 - 1 entries');
  }
  return domain(
    Label.membershipAnchorSig,
    idBytes(a.chatId, 'chat id'),
    idBytes(a.userId, 'user id'),
    u32be(a.length),
    expectLength(a.head, LOG_HASH_BYTES, 'anchored head'),
  );
}

export async function signLogAnchor(
  a: Omit<LogAnchor, 'signature'>,
  signingKey: CryptoKey,
): Promise<LogAnchor> {
  return { ...a, head: a.head.slice(), signature: await ed25519Sign(signingKey, anchorInput(a)) };
}

/** True only if `userId`'s key signed exactly this chat, user, length and head. */
export function verifyLogAnchor(a: LogAnchor, ed25519PublicKey: Uint8Array): Promise<boolean> {
  return ed25519Verify(ed25519PublicKey, a.signature, anchorInput(a));
}

export function logAnchorToJson(a: LogAnchor): LogAnchorJson {
  return { length: a.length, head: base64Encode(a.head), signature: base64Encode(a.signature) };
}

/** Parses the wire form for the chat and user the caller means (sizes only; verify separately). */
export function logAnchorFromJson(chatId: string, userId: string, json: unknown): LogAnchor {
  if (typeof json !== 'object' || json === null) {
    throw new CryptoError('bad_encoding', 'an anchor must be a JSON object');
  }
  const o = json as Record<string, unknown>;
  if (
    !Number.isInteger(o.length) ||
    typeof o.head !== 'string' ||
    typeof o.signature !== 'string'
  ) {
    throw new CryptoError(
      'bad_encoding',
      'an anchor has an integer length, a head and a signature',
    );
  }
  return {
    chatId,
    userId,
    length: o.length as number,
    head: base64Decode(o.head, LOG_HASH_BYTES),
    signature: base64Decode(o.signature, SIGNATURE_BYTES),
  };
}
