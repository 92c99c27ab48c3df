/**
 * VDrive wire types, shared by the server and the browser-safe SDK (types only, no runtime).
 * Binary fields are standard padded base64.
 */

/** A file as its owner sees it: envelopes only the owner's client can open. */
export interface FileView {
  id: string;
  status: 'uploading' | 'ready';
  /** Sealed under HKDF(FK, "vutler/v1/file-meta"): name, type, size, times. */
  encryptedMetadata: string;
  /** FK under the owner's MK. */
  fileKeyEncrypted: string;
  /** The stream header (public parameters: file id, chunk size, salt, nonce prefix). */
  header: string;
  chunkSize: number;
  chunkCount: number;
  /** Ciphertext bytes: header plus every chunk with its tag. */
  storedSize: number;
  hasPreview: boolean;
  createdAt: string;
  completedAt: string | null;
}

export interface UploadStatus {
  fileId: string;
  status: 'uploading' | 'ready';
  chunkCount: number;
  /** Indices already stored with the right size; an interrupted upload sends the others. */
  present: number[];
}

export type ShareModeName = 'download' | 'preview';

export interface ShareView {
  id: string;
  fileId: string;
  chatId: string;
  sharedBy: string;
  messageId: string | null;
  epoch: number;
  mode: ShareModeName;
  expiresAt: string | null;
  createdAt: string;
  /** The share key wrap, signed by `sharedBy` (src/crypto/shares.ts). */
  envelope: string;
}

/** What a chat member sees of a shared file. `header` only when the share allows download. */
export interface SharedFileView {
  id: string;
  encryptedMetadata: string;
  chunkSize: number;
  chunkCount: number;
  storedSize: number;
  hasPreview: boolean;
  header: string | null;
}
