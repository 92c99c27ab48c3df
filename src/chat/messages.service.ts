import type { AccessService } from '../access/index.ts';
import {
  canonicalMentions,
  type MessageHeader,
  messageHash,
  verifyMessageSignature,
  verifyTombstone,
} from '../crypto/messages.ts';
import { type Pool, type Queryable, withTransaction } from '../db/pool.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import type { MessageView } from '../wire/chat.ts';
import { AppendQueue } from './append-queue.ts';
import { ChatRepository } from './chat.repository.ts';
import {
  BadSignatureError,
  messageView,
  requireSigningKey,
  StaleEpochError,
} from './chat.views.ts';
import type { ChatEvents } from './events.ts';
import type { MembershipService } from './membership.service.ts';

export interface PostInput {
  id: string;
  epoch: number;
  ciphertext: Uint8Array;
  signature: Uint8Array;
  chain: { id: Uint8Array; counter: number; prev: Uint8Array };
  mentions: string[];
  decryptionPermissions: { agents?: 'allow' | 'deny' };
}

/**
 * Messages: stores what senders encrypted and signed, in one per-chat order (seq). The signature
 * covers the sender's chain position, the mentions and the agent policy, and is checked here
 * against the epoch's key commitment, so the stored row is exactly what the sender signed.
 */
const CACHE_SIZE = 10_000;

class NotAppended extends Error {}

export class MessageService {
  private readonly repo: ChatRepository;
  /** Appends outside a transaction: one statement at a time per chat, published as they commit. */
  private readonly appends: AppendQueue;
  // Both immutable once set (an identity key never changes; an epoch's commitment is written
  // once with its log entry), so the hot path needs no query before the append.
  private readonly signingKeys = new Map<string, Uint8Array>();
  private readonly commitments = new Map<string, Uint8Array>();

  constructor(
    private readonly pool: Pool,
    private readonly events: ChatEvents,
    private readonly membership: MembershipService,
    private readonly access: AccessService,
  ) {
    this.repo = new ChatRepository(pool);
    this.appends = new AppendQueue(pool, (rows) =>
      events.publishMany(
        rows.map((row) => {
          const message = messageView(row);
          return { type: 'message.created', chatId: message.chatId, message };
        }),
      ),
    );
  }

  private static remember(map: Map<string, Uint8Array>, key: string, value: Uint8Array) {
    if (map.size >= CACHE_SIZE) map.clear();
    map.set(key, value);
  }

  private async signingKeyOf(userId: string): Promise<Uint8Array> {
    const cached = this.signingKeys.get(userId);
    if (cached) return cached;
    const [signer] = await this.repo.signers([userId]);
    const key = requireSigningKey(signer?.identity_signing_key);
    MessageService.remember(this.signingKeys, userId, key);
    return key;
  }

  /** The epoch's key commitment, or undefined if the chat has no such epoch. */
  private async commitmentOf(chatId: string, epoch: number): Promise<Uint8Array | undefined> {
    const k = `${chatId}:${epoch}`;
    const cached = this.commitments.get(k);
    if (cached) return cached;
    const found = (await this.repo.epochCommitments(chatId, [epoch])).get(epoch) ?? undefined;
    if (found) MessageService.remember(this.commitments, k, found);
    return found;
  }

  /**
   * Idempotent on the client's id: the same message again returns the stored one
   * (`created: false`); another message under a used id is a 409. Mentions become outbox rows
   * for the agent-run worker, in the same statement.
   */
  async post(
    chatId: string,
    senderId: string,
    input: PostInput,
    opts: { alongside?: (tx: Queryable) => Promise<void> } = {},
  ): Promise<{ message: MessageView; created: boolean }> {
    // The hot path is one round trip: membership is checked by the append itself. Every refusal
    // asks about membership first, so a non-member still gets the same 404 as for no chat at all.
    const refuse = async (err: Error): Promise<never> => {
      await this.access.requireChatMember(senderId, chatId);
      throw err;
    };
    const signingKey = await this.signingKeyOf(senderId).catch(refuse);
    const commitment = await this.commitmentOf(chatId, input.epoch);
    if (!commitment) {
      // No such epoch: stale (epochs are never deleted, so a future one) — say which is current.
      const chat = await this.membership.requireMember(chatId, senderId);
      throw new StaleEpochError(chat.current_epoch);
    }
    const mentions = canonicalMentions(input.mentions);
    const header: MessageHeader = {
      chatId,
      messageId: input.id,
      epoch: input.epoch,
      sender: { kind: 'user', userId: senderId },
      chain: { chainId: input.chain.id, counter: input.chain.counter, prev: input.chain.prev },
      mentions,
      decryptionPermissions: input.decryptionPermissions,
    };
    let ok = false;
    try {
      ok = await verifyMessageSignature({
        header,
        commitment,
        encryptedContent: input.ciphertext,
        signature: input.signature,
        signerEd25519PublicKey: signingKey,
      });
    } catch (err) {
      await refuse(new BadRequestError(`The message is malformed: ${(err as Error).message}`));
    }
    if (!ok) await refuse(new BadSignatureError('The message is not signed by its sender.'));
    const append = {
      id: input.id,
      chatId,
      senderId,
      epoch: input.epoch,
      ciphertext: input.ciphertext,
      signature: input.signature,
      chain: input.chain,
      mentions,
      decryptionPermissions: input.decryptionPermissions,
    };
    // `alongside` writes rows that must commit with the message or not at all (a file share
    // and its card); a message that cannot be appended rolls them back.
    const row = opts.alongside
      ? await withTransaction(this.pool, async (tx) => {
          const r = await new ChatRepository(tx).appendMessage(append);
          if (!r) throw new NotAppended();
          await opts.alongside!(tx);
          return r;
        }).catch((err: unknown) => {
          if (err instanceof NotAppended) return undefined;
          throw err;
        })
      : await this.appends.append(append);
    if (row) {
      const message = messageView(row);
      // The queue published it already; a message stored with `alongside` is published here.
      if (opts.alongside) await this.events.publish({ type: 'message.created', chatId, message });
      return { message, created: true };
    }
    const existing = await this.whyNotAppended(chatId, senderId, input);
    // A retried message is fine on its own, but rows meant to commit with it did not.
    if (opts.alongside) throw new ConflictError('duplicate-id', 'This message was already sent.');
    return { message: existing, created: false };
  }

  /**
   * A message the gateway sealed for an agent of `ownerId` and signed with its own key (the
   * gateway's tools call this after their permission check): verified here against that key
   * with the agent sender descriptor, stored with `sender_agent`, fanned out like any message.
   * Agents' posts carry no mentions, so they trigger no agent runs.
   */
  async postAsAgent(
    chatId: string,
    ownerId: string,
    agentName: string,
    input: Omit<PostInput, 'mentions' | 'decryptionPermissions'>,
    gatewayEd25519PublicKey: Uint8Array,
  ): Promise<{ id: string; seq: number }> {
    const commitment = await this.commitmentOf(chatId, input.epoch);
    if (!commitment) {
      const chat = await this.membership.requireMember(chatId, ownerId);
      throw new StaleEpochError(chat.current_epoch);
    }
    const ok = await verifyMessageSignature({
      header: {
        chatId,
        messageId: input.id,
        epoch: input.epoch,
        sender: { kind: 'agent', agentName, onBehalfOf: ownerId },
        chain: { chainId: input.chain.id, counter: input.chain.counter, prev: input.chain.prev },
        mentions: [],
        decryptionPermissions: {},
      },
      commitment,
      encryptedContent: input.ciphertext,
      signature: input.signature,
      signerEd25519PublicKey: gatewayEd25519PublicKey,
    });
    if (!ok) throw new BadSignatureError('The agent message is not signed by the gateway.');
    const row = await this.appends.append({
      ...input,
      chatId,
      senderId: ownerId,
      mentions: [],
      decryptionPermissions: {},
      senderAgent: agentName,
    });
    if (!row) {
      const chat = await this.membership.requireMember(chatId, ownerId);
      if (input.epoch !== chat.current_epoch) throw new StaleEpochError(chat.current_epoch);
      throw new ConflictError('conflict', 'The message could not be stored; retry it.');
    }
    return { id: row.id, seq: Number(row.seq) };
  }

  /** The slow path of `post`: a retry of a stored message, or a 409 / 404 saying why not. */
  private async whyNotAppended(
    chatId: string,
    senderId: string,
    input: { id: string; epoch: number; ciphertext: Uint8Array },
  ): Promise<MessageView> {
    // A non-member learns nothing, not even whether the message id is taken.
    const chat = await this.membership.requireMember(chatId, senderId);
    const existing = await this.repo.messageById(input.id);
    if (existing) {
      const same =
        existing.chat_id === chatId &&
        existing.sender_id === senderId &&
        existing.encrypted_content !== null &&
        Buffer.compare(existing.encrypted_content, Buffer.from(input.ciphertext)) === 0;
      if (!same) throw new ConflictError('duplicate-id', 'Another message already has this id.');
      return messageView(existing);
    }
    if (input.epoch !== chat.current_epoch) throw new StaleEpochError(chat.current_epoch);
    throw new ConflictError('conflict', 'The message could not be stored; retry it.');
  }

  async history(
    chatId: string,
    userId: string,
    cursor: { before?: number; after?: number },
    limit: number,
  ) {
    await this.access.requireChatMember(userId, chatId);
    const rows = await this.repo.history(
      chatId,
      { before: cursor.before?.toString(), after: cursor.after?.toString() },
      limit,
    );
    return rows.map(messageView);
  }

  /** Messages with afterSeq < seq < beforeSeq (the hub fills delivery gaps with these). */
  async between(chatId: string, afterSeq: number, beforeSeq: number): Promise<MessageView[]> {
    return (await this.repo.between(chatId, String(afterSeq), String(beforeSeq))).map(messageView);
  }

  /** Deletes one's own message given a tombstone signed for exactly it (its chain position and hash). */
  async deleteMessage(
    chatId: string,
    userId: string,
    messageId: string,
    tombstone: Uint8Array,
  ): Promise<void> {
    await this.access.requireChatMember(userId, chatId);
    const msg = await this.repo.ownMessage(messageId, chatId, userId);
    if (!msg?.signature || !msg.chain_id || msg.chain_counter === null)
      throw new NotFoundError('No such message of yours.');
    const signingKey = await this.signingKeyOf(userId);
    const ok = await verifyTombstone(
      {
        chatId,
        messageId,
        sender: { kind: 'user', userId },
        chainId: msg.chain_id,
        counter: Number(msg.chain_counter),
        hash: await messageHash(msg.signature),
      },
      tombstone,
      signingKey,
    ).catch(() => false);
    if (!ok)
      throw new BadSignatureError('The tombstone is not signed by the sender for this message.');
    const row = await this.repo.deleteMessage(messageId, chatId, userId, tombstone);
    if (!row) throw new NotFoundError('No such message of yours.');
    await this.events.publish({ type: 'message.deleted', chatId, messageId, seq: Number(row.seq) });
  }
}
