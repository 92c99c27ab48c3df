import type { PostInput } from '../chat/chat.service.ts';
import { base64Encode } from '../crypto/bytes.ts';
import { shareEnvelopeMode, verifyShareSignature } from '../crypto/shares.ts';
import type { Pool, Queryable } from '../db/pool.ts';
import {
  AppError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  GoneError,
  NotFoundError,
} from '../errors.ts';
import type { MessageView } from '../wire/chat.ts';
import type { ChatMembership } from './access.ts';
import type { SharedFileView, ShareModeName, ShareView } from './types.ts';
import { type ShareRow, VdriveRepository } from './vdrive.repository.ts';
import type { VdriveService } from './vdrive.service.ts';

/** What the share flow needs of the chat service: post a signed message with rows beside it. */
export interface MessagePoster {
  post(
    chatId: string,
    senderId: string,
    input: PostInput,
    opts: { alongside?: (tx: Queryable) => Promise<void> },
  ): Promise<{ message: MessageView; created: boolean }>;
}

export class BadShareSignatureError extends AppError {
  constructor() {
    super(
      400,
      'bad-signature',
      'Bad signature',
      'The share is not signed by you for this chat, file and epoch.',
    );
  }
}

function modeOf(s: ShareRow): ShareModeName {
  return s.access_permissions.download === true ? 'download' : 'preview';
}

function shareView(s: ShareRow): ShareView {
  return {
    id: s.id,
    fileId: s.file_id,
    chatId: s.chat_id,
    sharedBy: s.shared_by,
    messageId: s.message_id,
    epoch: s.epoch,
    mode: modeOf(s),
    expiresAt: s.expires_at?.toISOString() ?? null,
    createdAt: s.created_at.toISOString(),
    envelope: s.envelope ? base64Encode(s.envelope) : '',
  };
}

export interface ShareInput {
  shareId: string;
  chatId: string;
  mode: ShareModeName;
  expiresAt: Date | null;
  envelope: Uint8Array;
  message: PostInput;
}

/**
 * Shares of a file into a chat. The server enforces membership (on every request), expiry and
 * the download flag; the cryptography enforces preview-only as well (such a wrap holds no FK) and
 * the sharer's signature stops anyone else from minting a share in their name.
 */
export class SharesService {
  private readonly repo: VdriveRepository;

  constructor(
    pool: Pool,
    private readonly files: VdriveService,
    private readonly membership: ChatMembership,
    private readonly messages: MessagePoster,
  ) {
    this.repo = new VdriveRepository(pool);
  }

  /** One transaction: the file-card message, the share row and its key wrap. */
  async share(
    userId: string,
    fileId: string,
    input: ShareInput,
  ): Promise<{ share: ShareView; message: MessageView }> {
    await this.files.ownReadyFile(userId, fileId);
    if (!(await this.membership.isActiveMember(input.chatId, userId))) throw new NotFoundError();
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new BadRequestError('expiresAt must be in the future.');
    }
    let mode: ShareModeName;
    try {
      mode = shareEnvelopeMode(input.envelope);
    } catch (err) {
      throw new BadRequestError(`The share envelope is malformed: ${(err as Error).message}`);
    }
    if (mode !== input.mode) throw new BadRequestError('mode differs from the share envelope.');
    const key = await this.repo.signingKey(userId);
    if (!key)
      throw new ConflictError('encryption-not-set-up', 'Set up end-to-end encryption first.');
    const ok = await verifyShareSignature({
      shareId: input.shareId,
      fileId,
      chatId: input.chatId,
      epoch: input.message.epoch,
      sharerId: userId,
      envelope: input.envelope,
      sharerEd25519PublicKey: key,
    }).catch(() => false);
    if (!ok) throw new BadShareSignatureError();
    const { message } = await this.messages.post(input.chatId, userId, input.message, {
      alongside: async (tx) => {
        const stored = await new VdriveRepository(tx).insertShare({
          id: input.shareId,
          fileId,
          chatId: input.chatId,
          sharedBy: userId,
          messageId: input.message.id,
          download: mode === 'download',
          epoch: input.message.epoch,
          expiresAt: input.expiresAt,
          envelope: input.envelope,
        });
        if (!stored)
          throw new ConflictError('share-exists', 'A share with this id already exists.');
      },
    });
    const row = await this.repo.share(input.shareId);
    return { share: shareView(row!), message };
  }

  /** The share, if it is live and the caller is a member of its chat now. */
  private async visible(userId: string, shareId: string): Promise<ShareRow> {
    const s = await this.repo.share(shareId);
    if (!s || !(await this.membership.isActiveMember(s.chat_id, userId))) throw new NotFoundError();
    return s;
  }

  /** Name and preview stay visible after expiry; only the content is cut off. */
  async open(userId: string, shareId: string): Promise<{ share: ShareView; file: SharedFileView }> {
    const s = await this.visible(userId, shareId);
    const f = await this.files.readyFile(s.file_id);
    if (!f) throw new NotFoundError();
    const download = modeOf(s) === 'download';
    return {
      share: shareView(s),
      file: {
        id: f.id,
        encryptedMetadata: f.encrypted_metadata?.ct ?? '',
        chunkSize: f.chunk_size,
        chunkCount: f.chunk_count,
        storedSize: Number(f.stored_size_bytes),
        hasPreview: f.has_preview,
        header: download ? base64Encode(f.file_header) : null,
      },
    };
  }

  async preview(userId: string, shareId: string): Promise<Buffer> {
    const s = await this.visible(userId, shareId);
    return this.files.previewOf(s.file_id);
  }

  private async downloadable(userId: string, shareId: string) {
    const s = await this.visible(userId, shareId);
    if (modeOf(s) !== 'download') throw new ForbiddenError('This share allows a preview only.');
    if (s.expires_at && s.expires_at.getTime() <= Date.now())
      throw new GoneError('This share has expired.');
    const f = await this.files.readyFile(s.file_id);
    if (!f) throw new NotFoundError();
    return f;
  }

  async chunk(userId: string, shareId: string, idx: number) {
    return this.files.openChunk(await this.downloadable(userId, shareId), idx);
  }

  async content(userId: string, shareId: string) {
    return this.files.openContent(await this.downloadable(userId, shareId));
  }

  /** The sharer takes it back: the wrap is deleted, members get 404 from then on. */
  async revoke(userId: string, shareId: string): Promise<void> {
    if (!(await this.repo.revokeShare(shareId, userId))) throw new NotFoundError();
  }
}
