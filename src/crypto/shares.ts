import { ByteReader, type Bytes, concat, randomBytes, u8, wipe } from './bytes.ts';
import type { ChatKey } from './chatkeys.ts';
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
import { aesGcmDecrypt, aesGcmEncrypt, IV_BYTES, KEY_BYTES, TAG_BYTES } from './primitives.ts';

/**
 * Share of a file into a chat, under the chat's current epoch key:
 *   0x01 ‖ mode(1) ‖ iv(12) ‖ AES-256-GCM(shareKey, payload)
 *   shareKey = HKDF(CK_epoch, "vutler/v1/share")                (ChatKey.shareKey)
 *   mode 0x01 "download": payload = FK (32)                       → 62 bytes
 *   mode 0x02 "preview":  payload = metaKey (32) ‖ PVK (32)       → 94 bytes
 *   AAD = "vutler/v1/share/aad" ‖ 0x00 ‖ lp(shareId) ‖ lp(fileId) ‖ lp(chatId) ‖ lp(u32be epoch) ‖
 *         lp(mode name)
 * A preview share never contains FK, so a `read`-only member cannot decrypt the content even if
 * the server wrongly served the chunks.
 */
export const SHARE_ENVELOPE_VERSION = 1;

export type ShareMode = 'download' | 'preview';

const MODE_BYTE: Record<ShareMode, number> = { download: 1, preview: 2 };

function modeFromByte(b: number): ShareMode {
  if (b === 1) return 'download';
  if (b === 2) return 'preview';
  throw new CryptoError('bad_encoding', `unknown share mode ${b}`);
}

function shareAad(shareId: string, fileId: string, chatKey: ChatKey, mode: ShareMode): Bytes {
  return domain(
    Label.shareAad,
    idBytes(shareId, 'share id'),
    idBytes(fileId, 'file id'),
    idBytes(chatKey.chatId, 'chat id'),
    epochBytes(chatKey.epoch),
    new TextEncoder().encode(mode),
  );
}

/** `download` needs an exportable FK (unwrapped with `{ exportable: true }`); `preview` does not. */
export async function createShare(p: {
  chatKey: ChatKey;
  shareId: string;
  fileKey: FileKey;
  mode: ShareMode;
}): Promise<Bytes> {
  if (p.mode !== 'download' && p.mode !== 'preview') {
    throw new CryptoError('bad_input', `share mode must be "download" or "preview"`);
  }
  const aad = shareAad(p.shareId, p.fileKey.fileId, p.chatKey, p.mode);
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
    const ct = await aesGcmEncrypt(p.chatKey.shareKey, iv, payload, aad);
    return concat(u8(SHARE_ENVELOPE_VERSION), u8(MODE_BYTE[p.mode]), iv, ct);
  } finally {
    wipe(payload);
  }
}

export type OpenedShare =
  | { mode: 'download'; fileKey: FileKey }
  | { mode: 'preview'; readKeys: FileReadKeys };

/** Opens a share with the chat key of the epoch it was made in; keys come out non-extractable. */
export async function openShare(p: {
  chatKey: ChatKey;
  shareId: string;
  fileId: string;
  envelope: Uint8Array;
}): Promise<OpenedShare> {
  const r = new ByteReader(p.envelope, 'share envelope');
  r.version(SHARE_ENVELOPE_VERSION);
  const mode = modeFromByte(r.byte());
  const iv = r.take(IV_BYTES);
  const payloadBytes = mode === 'download' ? KEY_BYTES : 2 * KEY_BYTES;
  const ct = r.take(payloadBytes + TAG_BYTES);
  r.end();
  const payload = await aesGcmDecrypt(
    p.chatKey.shareKey,
    iv,
    ct,
    shareAad(p.shareId, p.fileId, p.chatKey, mode),
  );
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
