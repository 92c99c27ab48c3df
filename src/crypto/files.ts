import {
  ByteReader,
  type Bytes,
  concat,
  constantTimeEqual,
  expectLength,
  randomBytes,
  u8,
  u32be,
  utf8Decode,
  utf8Encode,
  wipe,
} from './bytes.ts';
import { CryptoError, mapErrors } from './errors.ts';
import { domain, idBytes, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  hkdfAesKey,
  hkdfBytes,
  IV_BYTES,
  importAesKey,
  importHkdfKey,
  KEY_BYTES,
  sha256,
  subtle,
  TAG_BYTES,
} from './primitives.ts';

/** What opens a file's name/type/size and its preview — all a preview-only share hands out. */
export interface FileReadKeys {
  readonly fileId: string;
  /** HKDF(FK, "vutler/v1/file-meta") as AES-256-GCM, non-extractable. */
  readonly metaKey: CryptoKey;
  /** PVK = HKDF(FK, "vutler/v1/preview") as AES-256-GCM, non-extractable. */
  readonly previewKey: CryptoKey;
}

/** FK: opens everything about one file, content included. */
export interface FileKey extends FileReadKeys {
  /** FK as a non-extractable HKDF base key. */
  readonly base: CryptoKey;
  /** Whether FK can still be wrapped (under MK, into a download share, or into a grant). */
  readonly exportable: boolean;
}

// HKDF keys can never be extractable in WebCrypto, so an exportable FK keeps its bytes in a
// separate extractable AES key that is only ever exported, never used to encrypt. Module-private.
const exportHandles = new WeakMap<FileKey, CryptoKey>();

export async function importFileKey(
  raw: Uint8Array,
  fileId: string,
  exportable: boolean,
): Promise<FileKey> {
  idBytes(fileId, 'file id');
  const key = expectLength(raw, KEY_BYTES, 'file key');
  const base = await importHkdfKey(key);
  const empty = new Uint8Array(0);
  const metaKey = await hkdfAesKey(base, empty, domain(Label.fileMeta));
  const previewKey = await hkdfAesKey(base, empty, domain(Label.preview));
  const fk: FileKey = Object.freeze({ fileId, base, metaKey, previewKey, exportable });
  if (exportable) exportHandles.set(fk, await importAesKey(key, ['encrypt'], true));
  return fk;
}

/** Raw FK for wrapping; the caller wipes it. */
export async function exportFileKeyRaw(fk: FileKey): Promise<Bytes> {
  const handle = exportHandles.get(fk);
  if (!handle) {
    throw new CryptoError(
      'not_extractable',
      'file key was unwrapped non-exportable; unwrap it with { exportable: true } to re-wrap it',
    );
  }
  return new Uint8Array(await subtle().exportKey('raw', handle));
}

/** Raw meta key and PVK, for a preview-only share. Works on any FK (derivation, not export). */
export async function exportFileReadKeysRaw(fk: FileKey): Promise<{ meta: Bytes; preview: Bytes }> {
  const empty = new Uint8Array(0);
  const meta = await hkdfBytes(fk.base, empty, domain(Label.fileMeta), KEY_BYTES);
  const preview = await hkdfBytes(fk.base, empty, domain(Label.preview), KEY_BYTES);
  return { meta, preview };
}

export async function importFileReadKeys(
  fileId: string,
  metaRaw: Uint8Array,
  previewRaw: Uint8Array,
): Promise<FileReadKeys> {
  idBytes(fileId, 'file id');
  const metaKey = await importAesKey(metaRaw);
  const previewKey = await importAesKey(previewRaw);
  return Object.freeze({ fileId, metaKey, previewKey });
}

/** A fresh FK for an upload; exportable because it must be wrapped under MK. */
export async function generateFileKey(fileId: string): Promise<FileKey> {
  const raw = randomBytes(KEY_BYTES);
  try {
    return await importFileKey(raw, fileId, true);
  } finally {
    wipe(raw);
  }
}

/**
 * `files.file_key_encrypted` = 0x01 ‖ iv(12) ‖ AES-256-GCM(MK, FK)(48)       = 61 bytes
 *   AAD = "vutler/v1/file-key/aad" ‖ 0x00 ‖ lp(fileId)
 * Binding the file id stops the server from swapping key envelopes between a user's files.
 */
export const FILE_KEY_ENVELOPE_VERSION = 1;

export async function wrapFileKey(masterKey: CryptoKey, fk: FileKey): Promise<Bytes> {
  const aad = domain(Label.fileKeyAad, idBytes(fk.fileId, 'file id'));
  const raw = await exportFileKeyRaw(fk);
  try {
    const iv = randomBytes(IV_BYTES);
    return concat(u8(FILE_KEY_ENVELOPE_VERSION), iv, await aesGcmEncrypt(masterKey, iv, raw, aad));
  } finally {
    wipe(raw);
  }
}

export async function unwrapFileKey(
  masterKey: CryptoKey,
  fileId: string,
  envelope: Uint8Array,
  opts: { exportable?: boolean } = {},
): Promise<FileKey> {
  const aad = domain(Label.fileKeyAad, idBytes(fileId, 'file id'));
  const r = new ByteReader(envelope, 'file-key envelope');
  r.version(FILE_KEY_ENVELOPE_VERSION);
  const iv = r.take(IV_BYTES);
  const ct = r.take(KEY_BYTES + TAG_BYTES);
  r.end();
  const raw = await aesGcmDecrypt(masterKey, iv, ct, aad);
  try {
    return await importFileKey(raw, fileId, opts.exportable === true);
  } finally {
    wipe(raw);
  }
}

// ---------------------------------------------------------------------------------------------
// Content header and per-chunk cipher

/**
 * Header, written first in the encrypted stream:
 *   0x01 ‖ lp(fileId) ‖ u32be(chunkSize) ‖ salt(32) ‖ noncePrefix(7)
 * chunkKey = HKDF(FK, salt, "vutler/v1/file-chunk" ‖ 0x00 ‖ lp(fileId))
 * chunk i  = AES-256-GCM(chunkKey, nonce = prefix7 ‖ u32be(i) ‖ u8(last), AAD = SHA-256(header))
 */
export const FILE_HEADER_VERSION = 1;
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Tiny chunks only cost overhead; the floor keeps a hostile header from making that absurd. */
export const MIN_CHUNK_SIZE = 64;
/** A decryptor buffers one chunk, so a hostile header must not be able to ask for gigabytes. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const FILE_SALT_BYTES = 32;
export const NONCE_PREFIX_BYTES = 7;
/** 2^32 chunks: the counter is 32 bits. */
export const MAX_CHUNKS = 2 ** 32;

export interface FileHeader {
  version: 1;
  fileId: string;
  chunkSize: number;
  salt: Bytes;
  noncePrefix: Bytes;
}

function checkChunkSize(n: number): number {
  if (!Number.isInteger(n) || n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE) {
    throw new CryptoError('bad_params', `chunk size must be ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
  }
  return n;
}

export function newFileHeader(fileId: string, chunkSize = DEFAULT_CHUNK_SIZE): FileHeader {
  idBytes(fileId, 'file id');
  return {
    version: 1,
    fileId,
    chunkSize: checkChunkSize(chunkSize),
    salt: randomBytes(FILE_SALT_BYTES),
    noncePrefix: randomBytes(NONCE_PREFIX_BYTES),
  };
}

export function encodeFileHeader(h: FileHeader): Bytes {
  const id = idBytes(h.fileId, 'file id');
  return concat(
    u8(FILE_HEADER_VERSION),
    u8(id.length >>> 8),
    u8(id.length),
    id,
    u32be(checkChunkSize(h.chunkSize)),
    expectLength(h.salt, FILE_SALT_BYTES, 'file salt'),
    expectLength(h.noncePrefix, NONCE_PREFIX_BYTES, 'nonce prefix'),
  );
}

/** Length of the encoded header, or null if `prefix` is too short to tell yet. */
export function fileHeaderLength(prefix: Uint8Array): number | null {
  if (prefix.length < 3) return null;
  return 3 + ((prefix[1]! << 8) | prefix[2]!) + 4 + FILE_SALT_BYTES + NONCE_PREFIX_BYTES;
}

/** Parses a header from the start of `bytes`; returns it and how many bytes it used. */
export function decodeFileHeader(bytes: Uint8Array): { header: FileHeader; length: number } {
  const r = new ByteReader(bytes, 'file header');
  r.version(FILE_HEADER_VERSION);
  const idLen = r.u16();
  if (idLen === 0) throw new CryptoError('bad_input', 'file header has an empty file id');
  const idRaw = r.take(idLen);
  const fileId = utf8Decode(idRaw);
  // Only the canonical encoding is accepted, so the header bytes hashed into the chunk AAD are
  // exactly the bytes `encodeFileHeader` would produce — no two encodings of one header.
  if (!constantTimeEqual(idRaw, idBytes(fileId, 'file id'))) {
    throw new CryptoError('bad_encoding', 'file header id is not in canonical form');
  }
  const chunkSize = checkChunkSize(r.u32());
  const salt = r.take(FILE_SALT_BYTES).slice();
  const noncePrefix = r.take(NONCE_PREFIX_BYTES).slice();
  const length = bytes.length - r.remaining;
  return { header: { version: 1, fileId, chunkSize, salt, noncePrefix }, length };
}

export interface ChunkCipher {
  readonly header: FileHeader;
  readonly headerBytes: Bytes;
  /** Plaintext of a non-final chunk must be exactly chunkSize; the final one 0..chunkSize. */
  encryptChunk(index: number, last: boolean, plaintext: Uint8Array): Promise<Bytes>;
  decryptChunk(index: number, last: boolean, ciphertext: Uint8Array): Promise<Bytes>;
}

/** For random access (range reads, the gateway) as well as the streams. */
export async function createChunkCipher(fk: FileKey, header: FileHeader): Promise<ChunkCipher> {
  if (!constantTimeEqual(idBytes(header.fileId), idBytes(fk.fileId))) {
    throw new CryptoError('decrypt_failed', 'file header belongs to a different file');
  }
  const headerBytes = encodeFileHeader(header);
  const aad = await sha256(headerBytes);
  const info = domain(Label.fileChunk, idBytes(fk.fileId, 'file id'));
  const key = await hkdfAesKey(fk.base, header.salt, info);
  const { chunkSize } = header;
  const nonce = (index: number, last: boolean): Bytes => {
    if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) {
      throw new CryptoError('bad_input', 'chunk index out of range (file too large?)');
    }
    return concat(header.noncePrefix, u32be(index), u8(last ? 1 : 0));
  };
  return {
    header,
    headerBytes,
    encryptChunk(index, last, plaintext) {
      const n = plaintext.length;
      if (last ? n > chunkSize : n !== chunkSize) {
        throw new CryptoError(
          'bad_length',
          `chunk ${index} has ${n} bytes (chunk size ${chunkSize})`,
        );
      }
      return aesGcmEncrypt(key, nonce(index, last), plaintext, aad);
    },
    async decryptChunk(index, last, ciphertext) {
      const n = ciphertext.length;
      if (n < TAG_BYTES) throw new CryptoError('truncated', `chunk ${index} is truncated`);
      if (last ? n > chunkSize + TAG_BYTES : n !== chunkSize + TAG_BYTES) {
        throw new CryptoError('decrypt_failed', `chunk ${index} has the wrong size`);
      }
      return aesGcmDecrypt(key, nonce(index, last), ciphertext, aad);
    },
  };
}

/** Ciphertext size of a file of `plainSize` bytes: header + chunks, each with a 16-byte tag. */
export function encryptedFileSize(
  fileId: string,
  plainSize: number,
  chunkSize = DEFAULT_CHUNK_SIZE,
): number {
  const headerLen = 3 + idBytes(fileId).length + 4 + FILE_SALT_BYTES + NONCE_PREFIX_BYTES;
  const chunks = Math.max(1, Math.ceil(plainSize / checkChunkSize(chunkSize)));
  return headerLen + plainSize + chunks * TAG_BYTES;
}

// ---------------------------------------------------------------------------------------------
// Metadata and preview

/**
 * `files.encrypted_metadata` and the preview blob share one layout:
 *   0x01 ‖ iv(12) ‖ AES-256-GCM(key, plaintext)
 *   meta:    key = metaKey, AAD = "vutler/v1/file-meta/aad" ‖ 0x00 ‖ lp(fileId), plaintext = JSON
 *   preview: key = PVK,     AAD = "vutler/v1/preview/aad"   ‖ 0x00 ‖ lp(fileId), plaintext = bytes
 */
export const FILE_BLOB_VERSION = 1;

export interface FileMeta {
  name: string;
  /** MIME type. */
  type: string;
  size: number;
  /** Unix milliseconds, or null when unknown. */
  createdAt: number | null;
  modifiedAt: number | null;
}

function checkMeta(v: unknown): FileMeta {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new CryptoError('bad_encoding', 'file metadata must be an object');
  }
  const time = (t: unknown) =>
    t === null || t === undefined || (Number.isInteger(t) && (t as number) >= 0);
  if (
    typeof o.name !== 'string' ||
    typeof o.type !== 'string' ||
    !Number.isSafeInteger(o.size) ||
    (o.size as number) < 0 ||
    !time(o.createdAt) ||
    !time(o.modifiedAt)
  ) {
    throw new CryptoError('bad_encoding', 'file metadata has the wrong shape');
  }
  return {
    name: o.name,
    type: o.type,
    size: o.size as number,
    createdAt: (o.createdAt as number | undefined) ?? null,
    modifiedAt: (o.modifiedAt as number | undefined) ?? null,
  };
}

async function sealBlob(key: CryptoKey, aad: Bytes, plaintext: Uint8Array): Promise<Bytes> {
  const iv = randomBytes(IV_BYTES);
  return concat(u8(FILE_BLOB_VERSION), iv, await aesGcmEncrypt(key, iv, plaintext, aad));
}

async function openBlob(
  key: CryptoKey,
  aad: Bytes,
  envelope: Uint8Array,
  what: string,
): Promise<Bytes> {
  const r = new ByteReader(envelope, what);
  r.version(FILE_BLOB_VERSION);
  const iv = r.take(IV_BYTES);
  return aesGcmDecrypt(key, iv, r.rest(), aad);
}

export async function sealFileMeta(keys: FileReadKeys, meta: FileMeta): Promise<Bytes> {
  const plaintext = utf8Encode(JSON.stringify(checkMeta(meta)));
  try {
    return await sealBlob(keys.metaKey, domain(Label.fileMetaAad, idBytes(keys.fileId)), plaintext);
  } finally {
    wipe(plaintext);
  }
}

export async function openFileMeta(keys: FileReadKeys, envelope: Uint8Array): Promise<FileMeta> {
  const aad = domain(Label.fileMetaAad, idBytes(keys.fileId));
  const plaintext = await openBlob(keys.metaKey, aad, envelope, 'file metadata');
  try {
    return checkMeta(
      await mapErrors('bad_encoding', 'file metadata is not JSON', async () =>
        JSON.parse(utf8Decode(plaintext)),
      ),
    );
  } finally {
    wipe(plaintext);
  }
}

export function sealPreview(keys: FileReadKeys, preview: Uint8Array): Promise<Bytes> {
  return sealBlob(keys.previewKey, domain(Label.previewAad, idBytes(keys.fileId)), preview);
}

export function openPreview(keys: FileReadKeys, envelope: Uint8Array): Promise<Bytes> {
  return openBlob(
    keys.previewKey,
    domain(Label.previewAad, idBytes(keys.fileId)),
    envelope,
    'preview',
  );
}
