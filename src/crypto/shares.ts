import { ByteReader, type Bytes, concat, randomBytes, u8, utf8Encode, wipe } from './bytes.ts';
import type { ChatKey, Signer } from './chatkeys.ts';
import { CryptoError } from './errors.ts';
import {
  exportFileKeyRaw,
  exportFileReadKeysRaw,
  type FileKey,
  type FileReadKeys,
  importFileKey,
  importFileReadKeys,
} from './files.ts';
import { domain, epochBytes, idBytes, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  IV_BYTES,
  KEY_BYTES,
  SIGNATURE_BYTES,
  TAG_BYTES,
} from './primitives.ts';

/**
 * Share of a file into a chat, under the chat's epoch key, made and signed by the sharer:
 *   0x02 ‖ mode(1) ‖ iv(12) ‖ AES-256-GCM(shareKey, payload) ‖ sig(64)
 *   shareKey = HKDF(CK_epoch, "vutler/v1/share")                (ChatKey.shareKey)
 *   mode 0x01 "download": payload = FK (32)                       → 126 bytes
 *   mode 0x02 "preview":  payload = metaKey (32) ‖ PVK (32)       → 158 bytes
 *   AAD = "vutler/v1/share/aad" ‖ 0x00 ‖ lp(shareId) ‖ lp(fileId) ‖ lp(chatId) ‖ lp(u32be epoch) ‖
 *         lp(mode name) ‖ lp(sharerId)
 *   sig = Ed25519(sharer, "vutler/v1/share/sig" ‖ 0x00 ‖ lp(shareId) ‖ lp(fileId) ‖ lp(chatId) ‖
 *         lp(u32be epoch) ‖ lp(mode name) ‖ lp(sharerId) ‖ lp(everything before sig))
 * A preview share never contains FK, so a `read`-only member cannot decrypt the content even if
 * the server wrongly served the chunks. The signature means that any member holding CK — or a
 * server that learnt it — cannot mint a share in someone else's name: receivers verify it against
 * the sharer's pinned identity before opening (v1 had no sharer binding and is no longer read).
 */
export const SHARE_ENVELOPE_VERSION = 2;

export type ShareMode = 'download' | 'preview';

const MODE_BYTE: Record<ShareMode, number> = { download: 1, preview: 2 };

function modeFromByte(b: number): ShareMode {
  if (b === 1) return 'download';
  if (b === 2) return 'preview';
  throw new CryptoError('bad_encoding', `unknown share mode ${b}`);
}

interface ShareContext {
  shareId: string;
  fileId: string;
  chatId: string;
  epoch: number;
  mode: ShareMode;
  sharerId: string;
}

function shareFields(c: ShareContext): Bytes[] {
  return [
    idBytes(c.shareId, 'share id'),
    idBytes(c.fileId, 'file id'),
    idBytes(c.chatId, 'chat id'),
    epochBytes(c.epoch),
    utf8Encode(c.mode),
    idBytes(c.sharerId, 'sharer id'),
  ];
}

const shareAad = (c: ShareContext): Bytes => domain(Label.shareAad, ...shareFields(c));
const shareSigInput = (c: ShareContext, body: Uint8Array): Bytes =>
  domain(Label.shareSig, ...shareFields(c), body);

function payloadLength(mode: ShareMode): number {
  return mode === 'download' ? KEY_BYTES : 2 * KEY_BYTES;
}

/** Envelope length for a mode, so transports can bound the field exactly. */
export function shareEnvelopeLength(mode: ShareMode): number {
  return 2 + IV_BYTES + payloadLength(mode) + TAG_BYTES + SIGNATURE_BYTES;
}

/** Splits an envelope into its signed body, mode and signature, checking the framing. */
function parseEnvelope(envelope: Uint8Array) {
  const r = new ByteReader(envelope, 'share envelope');
  r.version(SHARE_ENVELOPE_VERSION);
  const mode = modeFromByte(r.byte());
  const iv = r.take(IV_BYTES);
  const ct = r.take(payloadLength(mode) + TAG_BYTES);
  const signature = r.take(SIGNATURE_BYTES);
  r.end();
  const body = envelope.subarray(0, envelope.length - SIGNATURE_BYTES);
  return { mode, iv, ct, signature, body };
}

/** The mode an envelope claims (framing checked, nothing verified). */
export function shareEnvelopeMode(envelope: Uint8Array): ShareMode {
  return parseEnvelope(envelope).mode;
}

/** `download` needs an exportable FK (unwrapped with `{ exportable: true }`); `preview` does not. */
export async function createShare(p: {
  chatKey: ChatKey;
  shareId: string;
  fileKey: FileKey;
  mode: ShareMode;
  sharer: Signer;
}): Promise<Bytes> {
  if (p.mode !== 'download' && p.mode !== 'preview') {
    throw new CryptoError('bad_input', `share mode must be "download" or "preview"`);
  }
  const ctx: ShareContext = {
    shareId: p.shareId,
    fileId: p.fileKey.fileId,
    chatId: p.chatKey.chatId,
    epoch: p.chatKey.epoch,
    mode: p.mode,
    sharerId: p.sharer.id,
  };
  let payload: Bytes;
  if (p.mode === 'download') {
    payload = await exportFileKeyRaw(p.fileKey);
  } else {
    const { meta, preview } = await exportFileReadKeysRaw(p.fileKey);
    payload = concat(meta, preview);
    wipe(meta, preview);
  }
  try {
    const iv = randomBytes(IV_BYTES);
    const ct = await aesGcmEncrypt(p.chatKey.shareKey, iv, payload, shareAad(ctx));
    const body = concat(u8(SHARE_ENVELOPE_VERSION), u8(MODE_BYTE[p.mode]), iv, ct);
    const sig = await ed25519Sign(p.sharer.signingKey, shareSigInput(ctx, body));
    return concat(body, sig);
  } finally {
    wipe(payload);
  }
}

export interface ShareStatement {
  shareId: string;
  fileId: string;
  chatId: string;
  epoch: number;
  sharerId: string;
  envelope: Uint8Array;
}

/**
 * True only if `envelope` is a well-formed share signed by `sharerId`'s key for exactly this
 * share, file, chat and epoch. Needs no chat key, so the server checks it before storing.
 */
export async function verifyShareSignature(
  p: ShareStatement & { sharerEd25519PublicKey: Uint8Array },
): Promise<boolean> {
  const { mode, signature, body } = parseEnvelope(p.envelope);
  return ed25519Verify(p.sharerEd25519PublicKey, signature, shareSigInput({ ...p, mode }, body));
}

export type OpenedShare =
  | { mode: 'download'; fileKey: FileKey }
  | { mode: 'preview'; readKeys: FileReadKeys };

/**
 * Verifies the sharer's signature (`bad_signature`), then opens the share with the chat key of
 * the epoch it was made in; keys come out non-extractable.
 */
export async function openShare(p: {
  chatKey: ChatKey;
  shareId: string;
  fileId: string;
  envelope: Uint8Array;
  sharer: { id: string; ed25519PublicKey: Uint8Array };
}): Promise<OpenedShare> {
  const { mode, iv, ct, signature, body } = parseEnvelope(p.envelope);
  const ctx: ShareContext = {
    shareId: p.shareId,
    fileId: p.fileId,
    chatId: p.chatKey.chatId,
    epoch: p.chatKey.epoch,
    mode,
    sharerId: p.sharer.id,
  };
  if (!(await ed25519Verify(p.sharer.ed25519PublicKey, signature, shareSigInput(ctx, body)))) {
    throw new CryptoError('bad_signature', 'the share is not signed by its stated sharer');
  }
  const payload = await aesGcmDecrypt(p.chatKey.shareKey, iv, ct, shareAad(ctx));
  try {
    if (mode === 'download') {
      return { mode, fileKey: await importFileKey(payload, p.fileId, false) };
    }
    const readKeys = await importFileReadKeys(
      p.fileId,
      payload.subarray(0, KEY_BYTES),
      payload.subarray(KEY_BYTES),
    );
    return { mode, readKeys };
  } finally {
    wipe(payload);
  }
}
