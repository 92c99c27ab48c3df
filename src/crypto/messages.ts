import {
  ByteReader,
  type Bytes,
  concat,
  randomBytes,
  utf8Decode,
  utf8Encode,
  wipe,
} from './bytes.ts';
import type { ChatKey } from './chatkeys.ts';
import { CryptoError } from './errors.ts';
import { domain, epochBytes, idBytes, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  IV_BYTES,
  SIGNATURE_BYTES,
  TAG_BYTES,
} from './primitives.ts';
import { assertUuidV7, isUuidV7 } from './uuid.ts';

/**
 * `messages.encrypted_content` = 0x01 ‖ iv(12) ‖ AES-256-GCM(CK_epoch, utf8(JSON body))
 *   AAD = "vutler/v1/message/aad" ‖ 0x00 ‖ lp(chatId) ‖ lp(messageId) ‖ lp(u32be epoch) ‖ lp(senderId)
 * signature (64 bytes, stored beside it) = Ed25519(sender,
 *   "vutler/v1/message/sig" ‖ 0x00 ‖ lp(chatId) ‖ lp(messageId) ‖ lp(epoch) ‖ lp(senderId) ‖
 *   encrypted_content)
 */
export const MESSAGE_ENVELOPE_VERSION = 1;
export const MESSAGE_ENVELOPE_OVERHEAD = 1 + IV_BYTES + TAG_BYTES;

export interface Attachment {
  fileId: string;
  shareId: string;
}

export interface MessageBody {
  text: string;
  /** Id of the message this one answers, or null. */
  replyTo: string | null;
  attachments: Attachment[];
}

export interface MessageContext {
  chatId: string;
  messageId: string;
  epoch: number;
  /** A user id, or an agent id for messages the gateway posts on an agent's behalf. */
  senderId: string;
}

function checkBody(value: unknown): MessageBody {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CryptoError('bad_encoding', 'message body must be a JSON object');
  }
  const o = value as Record<string, unknown>;
  if (typeof o.text !== 'string')
    throw new CryptoError('bad_encoding', 'body.text must be a string');
  const replyTo = o.replyTo ?? null;
  if (replyTo !== null && !isUuidV7(replyTo)) {
    throw new CryptoError('bad_encoding', 'body.replyTo must be a UUIDv7 or null');
  }
  const rawAttachments = o.attachments ?? [];
  if (!Array.isArray(rawAttachments)) {
    throw new CryptoError('bad_encoding', 'body.attachments must be an array');
  }
  const attachments = rawAttachments.map((a: unknown, i): Attachment => {
    const ao = a as Record<string, unknown> | null;
    if (
      typeof ao !== 'object' ||
      ao === null ||
      typeof ao.fileId !== 'string' ||
      ao.fileId === '' ||
      typeof ao.shareId !== 'string' ||
      ao.shareId === ''
    ) {
      throw new CryptoError('bad_encoding', `body.attachments[${i}] must be { fileId, shareId }`);
    }
    return { fileId: ao.fileId, shareId: ao.shareId };
  });
  // Unknown keys are dropped rather than refused so a newer client's additions do not make a
  // message unreadable for an older one.
  return { text: o.text, replyTo: replyTo as string | null, attachments };
}

export function encodeMessageBody(body: MessageBody): Bytes {
  const checked = checkBody(body);
  return utf8Encode(JSON.stringify(checked));
}

export function decodeMessageBody(bytes: Uint8Array): MessageBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decode(bytes));
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('bad_encoding', 'message body is not valid JSON', { cause: err });
  }
  return checkBody(parsed);
}

function contextFields(ctx: MessageContext): Bytes[] {
  assertUuidV7(ctx.messageId, 'message id');
  return [
    idBytes(ctx.chatId, 'chat id'),
    idBytes(ctx.messageId, 'message id'),
    epochBytes(ctx.epoch),
    idBytes(ctx.senderId, 'sender id'),
  ];
}

export function messageAad(ctx: MessageContext): Bytes {
  return domain(Label.messageAad, ...contextFields(ctx));
}

function signatureInput(ctx: MessageContext, encryptedContent: Uint8Array): Bytes {
  return concat(domain(Label.messageSig, ...contextFields(ctx)), encryptedContent);
}

/** Throws unless `encryptedContent` is a structurally valid v1 message envelope. */
export function checkMessageEnvelope(encryptedContent: Uint8Array): void {
  const r = new ByteReader(encryptedContent, 'message envelope');
  r.version(MESSAGE_ENVELOPE_VERSION);
  r.take(IV_BYTES + TAG_BYTES);
}

export interface SealedMessage {
  encryptedContent: Bytes;
  signature: Bytes;
}

export async function sealMessage(p: {
  chatKey: ChatKey;
  messageId: string;
  senderId: string;
  body: MessageBody;
  /** The sender's Ed25519 private key (the gateway's for an agent). */
  signingKey: CryptoKey;
}): Promise<SealedMessage> {
  const ctx = {
    chatId: p.chatKey.chatId,
    messageId: p.messageId,
    epoch: p.chatKey.epoch,
    senderId: p.senderId,
  };
  const aad = messageAad(ctx);
  const plaintext = encodeMessageBody(p.body);
  try {
    const iv = randomBytes(IV_BYTES);
    const ct = await aesGcmEncrypt(p.chatKey.messageKey, iv, plaintext, aad);
    const encryptedContent = concat(Uint8Array.of(MESSAGE_ENVELOPE_VERSION), iv, ct);
    const signature = await ed25519Sign(p.signingKey, signatureInput(ctx, encryptedContent));
    return { encryptedContent, signature };
  } finally {
    wipe(plaintext);
  }
}

/**
 * What the server runs on every incoming message: it holds only public keys and ciphertext.
 * Returns false for a signature that does not verify (including a wrong-size one); throws a
 * `CryptoError` for malformed input (bad ids, bad key length, malformed envelope).
 */
export async function verifyMessageSignature(
  p: MessageContext & {
    encryptedContent: Uint8Array;
    signature: Uint8Array;
    senderEd25519PublicKey: Uint8Array;
  },
): Promise<boolean> {
  checkMessageEnvelope(p.encryptedContent);
  return ed25519Verify(
    p.senderEd25519PublicKey,
    p.signature,
    signatureInput(p, p.encryptedContent),
  );
}

/** Verifies the sender's signature, then decrypts and decodes. */
export async function openMessage(p: {
  chatKey: ChatKey;
  messageId: string;
  senderId: string;
  encryptedContent: Uint8Array;
  signature: Uint8Array;
  senderEd25519PublicKey: Uint8Array;
}): Promise<MessageBody> {
  const ctx = {
    chatId: p.chatKey.chatId,
    messageId: p.messageId,
    epoch: p.chatKey.epoch,
    senderId: p.senderId,
  };
  if (!(p.signature instanceof Uint8Array) || p.signature.length !== SIGNATURE_BYTES) {
    throw new CryptoError('bad_signature', 'message signature is missing or not 64 bytes');
  }
  const ok = await verifyMessageSignature({ ...ctx, ...p });
  if (!ok) throw new CryptoError('bad_signature', 'message signature does not verify');
  const r = new ByteReader(p.encryptedContent, 'message envelope');
  r.version(MESSAGE_ENVELOPE_VERSION);
  const iv = r.take(IV_BYTES);
  const ct = r.rest();
  const plaintext = await aesGcmDecrypt(p.chatKey.messageKey, iv, ct, messageAad(ctx));
  try {
    return decodeMessageBody(plaintext);
  } finally {
    wipe(plaintext);
  }
}
