/**
 * The drive half of the SDK: encrypts files in the client (FK per file, chunked AES-GCM stream),
 * uploads them resumably, lists and downloads them, and shares them into chats as signed file
 * cards. Browser-safe: Node-only helpers (file paths) live in `drive-node.ts`.
 */

import { base64Decode, base64Encode } from '../crypto/bytes.ts';
import { isCryptoError } from '../crypto/errors.ts';
import {
  DEFAULT_CHUNK_SIZE,
  encodeFileHeader,
  encryptedFileSize,
  type FileKey,
  type FileMeta,
  type FileReadKeys,
  generateFileKey,
  newFileHeader,
  openFileMeta,
  openPreview,
  sealFileMeta,
  sealPreview,
  unwrapFileKey,
  wrapFileKey,
} from '../crypto/files.ts';
import { createFileDecryptStream } from '../crypto/filestream.ts';
import type { IdentityPublic } from '../crypto/identity.ts';
import { createShare, openShare, type ShareMode } from '../crypto/shares.ts';
import type { FileView, SharedFileView, ShareView, UploadStatus } from '../vdrive/types.ts';
import type { MessageView } from '../wire/chat.ts';
import type { ChatMessage, ChatsClient } from './chat.ts';
import {
  makePreview,
  readAllBytes,
  sendChunks,
  textPreview,
  UploadInterruptedError,
  type UploadOptions,
  type UploadSource,
} from './drive-upload.ts';
import { type Http, VutlerApiError, VutlerClientError } from './http.ts';

export type { FileMeta, ShareMode, UploadOptions, UploadSource };
export { makePreview, readAllBytes, textPreview, UploadInterruptedError };

export interface DriveFile {
  id: string;
  /** Decrypted on this device. */
  meta: FileMeta;
  storedSize: number;
  chunkCount: number;
  hasPreview: boolean;
  createdAt: string;
  /** `uploading` until every chunk is stored (`drive.get` of an interrupted upload). */
  status: 'uploading' | 'ready';
}

export interface OpenedShare {
  share: ShareView;
  meta: FileMeta;
  mode: ShareMode;
  /** The decrypted preview, or null if the file has none. */
  preview(): Promise<Uint8Array | null>;
  /** Decrypting stream of the content (download shares only). */
  download(): Promise<ReadableStream<Uint8Array>>;
}

export class DriveClient {
  constructor(
    private readonly http: Http,
    private readonly chats: ChatsClient,
    /** Pinned identities (the device key store): a sharer is verified against theirs. */
    private readonly trust: { identityOf(userId: string): Promise<{ identity: IdentityPublic }> },
    private readonly keys: () => {
      userId: string;
      masterKey: CryptoKey;
      signingKey: CryptoKey;
    },
  ) {}

  private path(fileId: string, rest = ''): string {
    return `/api/files/${encodeURIComponent(fileId)}${rest}`;
  }

  private async fileKey(view: FileView, exportable = false): Promise<FileKey> {
    return unwrapFileKey(this.keys().masterKey, view.id, base64Decode(view.fileKeyEncrypted), {
      exportable,
    });
  }

  private async decorate(view: FileView): Promise<DriveFile> {
    const fk = await this.fileKey(view);
    return {
      id: view.id,
      meta: await openFileMeta(fk, base64Decode(view.encryptedMetadata)),
      storedSize: view.storedSize,
      chunkCount: view.chunkCount,
      hasPreview: view.hasPreview,
      createdAt: view.createdAt,
      status: view.status,
    };
  }

  /** Encrypts and uploads; on an interruption after `create` throws `UploadInterruptedError`. */
  async upload(source: UploadSource, opts: UploadOptions): Promise<DriveFile> {
    const { masterKey } = this.keys();
    const size = source instanceof Blob ? source.size : opts.size;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new VutlerClientError('size-required', 'Pass the plaintext size of a stream upload.');
    }
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const fileId = globalThis.crypto.randomUUID();
    const fk = await generateFileKey(fileId);
    const header = newFileHeader(fileId, chunkSize);
    const meta: FileMeta = {
      name: opts.name,
      type:
        opts.type ??
        (source instanceof Blob && source.type ? source.type : 'application/octet-stream'),
      size,
      createdAt: Date.now(),
      modifiedAt: opts.modifiedAt ?? null,
    };
    const view = await this.http.request<FileView>('/api/files', {
      body: {
        id: fileId,
        encryptedMetadata: base64Encode(await sealFileMeta(fk, meta)),
        fileKeyEncrypted: base64Encode(await wrapFileKey(masterKey, fk)),
        header: base64Encode(encodeFileHeader(header)),
        chunkSize,
        chunkCount: Math.max(1, Math.ceil(size / chunkSize)),
        ciphertextSize: encryptedFileSize(fileId, size, chunkSize),
        ...(opts.preview ? { preview: base64Encode(await sealPreview(fk, opts.preview)) } : {}),
      },
    });
    opts.onCreated?.(view.id);
    await sendChunks(this.http, view, fk, source, size, new Set(), opts);
    return { ...(await this.decorate(view)), meta, status: 'ready' };
  }

  /** Continues an interrupted upload with the same bytes: only the missing chunks are sent. */
  async resume(
    fileId: string,
    source: UploadSource,
    opts: Omit<UploadOptions, 'name'> = {},
  ): Promise<DriveFile> {
    const view = await this.http.request<FileView>(this.path(fileId));
    const fk = await this.fileKey(view);
    const meta = await openFileMeta(fk, base64Decode(view.encryptedMetadata));
    const size = source instanceof Blob ? source.size : (opts.size ?? meta.size);
    if (size !== meta.size) {
      throw new VutlerClientError(
        'resume-mismatch',
        'These bytes are not the file being uploaded.',
      );
    }
    const status = await this.http.request<UploadStatus>(this.path(fileId, '/upload'));
    if (status.status !== 'ready') {
      await sendChunks(this.http, view, fk, source, size, new Set(status.present), opts);
    }
    return { ...(await this.decorate(view)), status: 'ready' };
  }

  async list(
    opts: { limit?: number; cursor?: string } = {},
  ): Promise<{ files: DriveFile[]; cursor: string | null }> {
    const query: Record<string, string> = {};
    if (opts.limit) query.limit = String(opts.limit);
    if (opts.cursor) query.cursor = opts.cursor;
    const res = await this.http.request<{ files: FileView[]; nextCursor: string | null }>(
      '/api/files',
      { query },
    );
    return {
      files: await Promise.all(res.files.map((f) => this.decorate(f))),
      cursor: res.nextCursor,
    };
  }

  /** The file's FK, exportable: only to wrap it to the gateway for an agent grant. */
  async grantableKey(fileId: string): Promise<FileKey> {
    return this.fileKey(await this.http.request<FileView>(this.path(fileId)), true);
  }

  async get(fileId: string): Promise<DriveFile> {
    return this.decorate(await this.http.request<FileView>(this.path(fileId)));
  }

  /**
   * The plaintext as a stream, decrypted and verified chunk by chunk. If the stream errors (a
   * `CryptoError`: tampered, reordered, truncated…), everything read from it must be discarded.
   */
  async download(fileId: string): Promise<ReadableStream<Uint8Array>> {
    const view = await this.http.request<FileView>(this.path(fileId));
    const fk = await this.fileKey(view);
    return this.decrypting(this.path(fileId, '/content'), fk);
  }

  private async decrypting(path: string, fk: FileKey): Promise<ReadableStream<Uint8Array>> {
    const res = await this.http.raw(path);
    if (!res.body) throw new VutlerClientError('empty-body', 'The server sent no content.');
    return (res.body as ReadableStream<Uint8Array>).pipeThrough(createFileDecryptStream(fk));
  }

  async preview(fileId: string): Promise<Uint8Array | null> {
    const view = await this.http.request<FileView>(this.path(fileId));
    if (!view.hasPreview) return null;
    return this.fetchPreview(this.path(fileId, '/preview'), await this.fileKey(view));
  }

  private async fetchPreview(path: string, keys: FileReadKeys): Promise<Uint8Array> {
    const res = await this.http.raw(path);
    return openPreview(keys, new Uint8Array(await res.arrayBuffer()));
  }

  async delete(fileId: string): Promise<void> {
    await this.http.request(this.path(fileId), { method: 'DELETE' });
  }

  /**
   * Shares a file into a chat: a share key wrap under the chat's current epoch, signed by this
   * user, and a file card (a chat message with the attachment) — stored in one transaction.
   */
  async share(
    fileId: string,
    chatId: string,
    opts: { mode: ShareMode; expiresAt?: Date; text?: string },
  ): Promise<{ share: ShareView; messageId: string }> {
    const { userId, signingKey } = this.keys();
    const view = await this.http.request<FileView>(this.path(fileId));
    const fk = await this.fileKey(view, opts.mode === 'download');
    const shareId = globalThis.crypto.randomUUID();
    let share: ShareView | undefined;
    const message = await this.chats.send(chatId, opts.text ?? '', {
      attachments: [{ fileId: view.id, shareId }],
      deliver: async (outgoing) => {
        const chatKey = await this.chats.key(chatId, outgoing.epoch);
        const envelope = await createShare({
          chatKey,
          shareId,
          fileKey: fk,
          mode: opts.mode,
          sharer: { id: userId, signingKey },
        });
        const res = await this.http.request<{ share: ShareView; message: MessageView }>(
          this.path(fileId, '/shares'),
          {
            body: {
              shareId,
              chatId,
              mode: opts.mode,
              ...(opts.expiresAt ? { expiresAt: opts.expiresAt.toISOString() } : {}),
              envelope: base64Encode(envelope),
              message: outgoing,
            },
          },
        );
        share = res.share;
        return res.message;
      },
    });
    return { share: share!, messageId: message.id };
  }

  async revokeShare(shareId: string): Promise<void> {
    await this.http.request(`/api/shares/${encodeURIComponent(shareId)}`, { method: 'DELETE' });
  }

  /**
   * Opens a share seen on a file card. The wrap must be signed by the sharer's pinned identity; if
   * the card is given, its sender must be the sharer and it must carry this share.
   */
  async openShare(shareId: string, card?: ChatMessage): Promise<OpenedShare> {
    const res = await this.http.request<{ share: ShareView; file: SharedFileView }>(
      `/api/shares/${encodeURIComponent(shareId)}`,
    );
    const { share, file } = res;
    if (share.id !== shareId || file.id !== share.fileId) {
      throw new VutlerClientError('untrusted-share', 'The server answered with another share.');
    }
    if (card) {
      const carries = card.body?.attachments.some(
        (a) => a.shareId === shareId && a.fileId === share.fileId,
      );
      if (
        card.status !== 'ok' ||
        card.senderId !== share.sharedBy ||
        card.chatId !== share.chatId ||
        !carries
      ) {
        throw new VutlerClientError(
          'untrusted-share',
          'The share does not match the file card it came with.',
        );
      }
    }
    const chatKey = await this.chats.key(share.chatId, share.epoch);
    const { identity: sharer } = await this.trust.identityOf(share.sharedBy);
    let opened: Awaited<ReturnType<typeof openShare>>;
    try {
      opened = await openShare({
        chatKey,
        shareId,
        fileId: share.fileId,
        envelope: base64Decode(share.envelope),
        sharer: { id: share.sharedBy, ed25519PublicKey: sharer.ed25519PublicKey },
      });
    } catch (err) {
      if (isCryptoError(err)) {
        throw new VutlerClientError('untrusted-share', `The share was rejected: ${err.message}`);
      }
      throw err;
    }
    const readKeys: FileReadKeys = opened.mode === 'download' ? opened.fileKey : opened.readKeys;
    const meta = await openFileMeta(readKeys, base64Decode(file.encryptedMetadata));
    const base = `/api/shares/${encodeURIComponent(shareId)}`;
    return {
      share,
      meta,
      mode: opened.mode,
      preview: async () =>
        file.hasPreview ? this.fetchPreview(`${base}/preview`, readKeys) : null,
      download: async () => {
        if (opened.mode !== 'download') {
          throw new VutlerClientError('preview-only', 'This share allows a preview only.');
        }
        return this.decrypting(`${base}/content`, opened.fileKey);
      },
    };
  }
}

export { VutlerApiError };
