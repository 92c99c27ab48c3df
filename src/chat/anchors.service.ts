import type { AccessService } from '../access/index.ts';
import {
  type LogAnchor,
  type LogAnchorJson,
  logAnchorToJson,
  verifyLogAnchor,
} from '../crypto/log-anchor.ts';
import type { Pool } from '../db/pool.ts';
import { BadRequestError } from '../errors.ts';
import { AnchorRepository } from './anchors.repository.ts';
import { BadSignatureError } from './chat.views.ts';

/**
 * Members' log anchors (docs/CRYPTO.md "Trust anchors"). The server stores and serves them;
 * it checks each one (signed by the caller, naming a head its log has) as hygiene, but clients
 * verify their own anchors with their own key, so a forged or swapped one gains nothing.
 */
export class AnchorService {
  private readonly repo: AnchorRepository;

  constructor(
    pool: Pool,
    private readonly access: AccessService,
  ) {
    this.repo = new AnchorRepository(pool);
  }

  /** The caller's own newest anchor for a chat, or null. */
  async get(chatId: string, userId: string): Promise<LogAnchorJson | null> {
    await this.access.requireChatMember(userId, chatId);
    const row = await this.repo.get(chatId, userId);
    return row
      ? logAnchorToJson({
          chatId,
          userId,
          length: row.length,
          head: row.head,
          signature: row.signature,
        })
      : null;
  }

  /** Stores the caller's anchor if it verifies and is longer than the one held; returns the held one. */
  async put(chatId: string, userId: string, input: Omit<LogAnchor, 'chatId' | 'userId'>) {
    await this.access.requireChatMember(userId, chatId);
    const anchor: LogAnchor = { ...input, chatId, userId };
    const key = await this.repo.signingKey(userId);
    if (!key || !(await verifyLogAnchor(anchor, key))) {
      throw new BadSignatureError('The anchor is not signed by your identity key for this chat.');
    }
    const hash = await this.repo.entryHash(chatId, anchor.length - 1);
    if (!hash?.equals(anchor.head)) {
      throw new BadRequestError(`The log has no entry ${anchor.length - 1} with that hash.`);
    }
    await this.repo.upsert(chatId, userId, anchor);
    return (await this.get(chatId, userId))!;
  }
}
