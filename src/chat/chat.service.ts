import { type AccessService, NoAccessError } from '../access/index.ts';
import { base64Encode } from '../crypto/bytes.ts';
import { verifyChatKeyWrapSignature } from '../crypto/chatkeys.ts';
import { agentSenderId } from '../crypto/grants.ts';
import { verifyMessageSignature } from '../crypto/messages.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import {
  AppError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
} from '../errors.ts';
import {
  ChatRepository,
  type ChatRow,
  type MemberRow,
  type MessageRow,
} from './chat.repository.ts';
import type { ChatEvents } from './events.ts';
import type { ChatView, MessageView } from './types.ts';

export type { ChatView };

export class BadSignatureError extends AppError {
  constructor(detail: string) {
    super(400, 'bad-signature', 'Bad signature', detail);
  }
}

export class StaleEpochError extends AppError {
  constructor(currentEpoch: number) {
    super(409, 'stale-epoch', 'Stale epoch', `The chat has rotated to epoch ${currentEpoch}.`, {
      extra: { currentEpoch },
    });
  }
}

export interface KeyWrapInput {
  userId: string;
  wrap: Uint8Array;
}

export function messageView(m: MessageRow): MessageView {
  return {
    id: m.id,
    chatId: m.chat_id,
    seq: Number(m.seq),
    senderId: m.sender_id,
    senderAgent: m.sender_agent,
    epoch: m.epoch,
    ciphertext: m.encrypted_content ? base64Encode(m.encrypted_content) : null,
    signature: m.signature ? base64Encode(m.signature) : null,
    mentions: m.mentions,
    decryptionPermissions: m.decryption_permissions,
    createdAt: m.created_at.toISOString(),
    deletedAt: m.deleted_at?.toISOString() ?? null,
  };
}

function chatView(c: ChatRow, members: MemberRow[]): ChatView {
  return {
    id: c.id,
    kind: c.kind,
    titleEncrypted: c.title_encrypted ? base64Encode(c.title_encrypted) : null,
    createdBy: c.created_by,
    currentEpoch: c.current_epoch,
    lastSeq: Number(c.last_seq),
    createdAt: c.created_at.toISOString(),
    members: members
      .filter((m) => !m.removed_at)
      .map((m) => ({ userId: m.user_id, role: m.role, joinedEpoch: m.joined_epoch })),
    formerMembers: members
      .filter((m) => m.removed_at)
      .map((m) => ({ userId: m.user_id, removedAt: m.removed_at!.toISOString() })),
  };
}

const MAX_GROUP_MEMBERS = 500;
const SIGNING_KEY_CACHE_SIZE = 10_000;

/** A person without a registered identity key cannot sign, so cannot chat yet. */
function requireSigningKey(key: Uint8Array | null | undefined): Uint8Array {
  if (!key) {
    throw new ConflictError(
      'encryption-not-set-up',
      'Set up end-to-end encryption before chatting.',
    );
  }
  return key;
}

/**
 * Chats, members, epochs and messages. The server never sees a chat key or a message body: it
 * stores wraps and ciphertext, checks that wraps and messages are signed by who they claim, and
 * orders messages per chat.
 */
export class ChatService {
  private readonly repo: ChatRepository;
  private readonly signingKeys = new Map<string, Uint8Array>();

  constructor(
    private readonly pool: Pool,
    private readonly events: ChatEvents,
    private readonly access: AccessService,
  ) {
    this.repo = new ChatRepository(pool);
  }

  /** Only members see a chat; everyone else gets the same 404 as for a chat that does not exist. */
  async requireMember(chatId: string, userId: string): Promise<ChatRow> {
    const chat = await this.repo.chatForMember(chatId, userId);
    if (!chat) throw new NoAccessError();
    return chat;
  }

  private async signingKeyOf(userId: string): Promise<Uint8Array> {
    const cached = this.signingKeys.get(userId);
    if (cached) return cached;
    const [signer] = await this.repo.signers([userId]);
    const key = requireSigningKey(signer?.identity_signing_key);
    // An account's identity key never changes once set up (DESIGN §4), so it may be kept.
    if (this.signingKeys.size >= SIGNING_KEY_CACHE_SIZE) this.signingKeys.clear();
    this.signingKeys.set(userId, key);
    return key;
  }

  /** Every wrap must be signed by `wrapperId` for exactly its chat, epoch and member. */
  private async checkWraps(
    chatId: string,
    wrapperId: string,
    wraps: { userId: string; epoch: number; wrap: Uint8Array }[],
  ): Promise<void> {
    const key = await this.signingKeyOf(wrapperId);
    for (const w of wraps) {
      let ok = false;
      try {
        ok = await verifyChatKeyWrapSignature({
          chatId,
          epoch: w.epoch,
          memberId: w.userId,
          wrapperId,
          wrapperEd25519PublicKey: key,
          envelope: w.wrap,
        });
      } catch (err) {
        throw new BadRequestError(
          `The key wrap for ${w.userId} is malformed: ${(err as Error).message}`,
        );
      }
      if (!ok)
        throw new BadSignatureError(`The key wrap for ${w.userId} is not signed by its sender.`);
    }
  }

  /** The set of wrap recipients must be exactly `expected`. */
  private static exactlyFor(wraps: KeyWrapInput[], expected: string[]): void {
    const got = new Set(wraps.map((w) => w.userId));
    if (got.size !== wraps.length) throw new BadRequestError('Two key wraps name the same member.');
    const want = new Set(expected);
    const missing = expected.filter((id) => !got.has(id));
    const extra = [...got].filter((id) => !want.has(id));
    if (missing.length || extra.length) {
      throw new BadRequestError(
        `keyWraps must cover exactly the members (missing ${missing.length}, unexpected ${extra.length}).`,
      );
    }
  }

  private async assertUsersReady(ids: string[]): Promise<void> {
    const found = await this.repo.signers(ids);
    if (found.length !== new Set(ids).size)
      throw new NotFoundError('No such user, or not ready for encrypted chat.');
  }

  async create(
    creatorId: string,
    input: {
      id: string;
      kind: 'direct' | 'group';
      memberIds: string[];
      titleEncrypted: Uint8Array | null;
      keyWraps: KeyWrapInput[];
    },
  ): Promise<ChatView> {
    const others = [...new Set(input.memberIds.filter((id) => id !== creatorId))];
    if (input.kind === 'direct' && others.length !== 1) {
      throw new BadRequestError('A direct chat has exactly one other member.');
    }
    if (others.length + 1 > MAX_GROUP_MEMBERS)
      throw new BadRequestError(`At most ${MAX_GROUP_MEMBERS} members.`);
    const all = [creatorId, ...others];
    await this.assertUsersReady(all);
    ChatService.exactlyFor(input.keyWraps, all);
    const wraps = input.keyWraps.map((w) => ({ ...w, epoch: 0 }));
    await this.checkWraps(input.id, creatorId, wraps);
    await withTransaction(this.pool, async (client) => {
      const repo = new ChatRepository(client);
      if (!(await repo.insertChat(input.id, input.kind, input.titleEncrypted, creatorId))) {
        throw new ConflictError('chat-exists', 'A chat with this id already exists.');
      }
      await repo.insertMembers(input.id, all, creatorId, 0);
      await repo.insertEpoch(input.id, 0, creatorId);
      await repo.insertWraps(input.id, creatorId, wraps);
    });
    const view = await this.get(input.id, creatorId);
    for (const userId of all) {
      await this.events.publish({
        type: 'member.changed',
        chatId: input.id,
        userId,
        change: 'added',
        by: creatorId,
        epoch: 0,
        lastSeq: 0,
      });
    }
    return view;
  }

  async list(userId: string): Promise<ChatView[]> {
    const chats = await this.repo.chatsOfUser(userId);
    if (chats.length === 0) return [];
    const members = await this.repo.membersOfChats(chats.map((c) => c.id));
    return chats.map((c) =>
      chatView(
        c,
        members.filter((m) => m.chat_id === c.id),
      ),
    );
  }

  async get(chatId: string, userId: string): Promise<ChatView> {
    const chat = await this.requireMember(chatId, userId);
    return chatView(chat, await this.repo.allMembers(chatId));
  }

  /** Chat ids a user may currently receive events for (the WebSocket hub's subscription list). */
  async chatIdsOf(userId: string): Promise<{ id: string; lastSeq: number }[]> {
    return (await this.repo.chatsOfUser(userId)).map((c) => ({
      id: c.id,
      lastSeq: Number(c.last_seq),
    }));
  }

  /** An existing member adds someone, handing them the keys of the epochs it chooses (at least the current one). */
  async addMember(
    chatId: string,
    actorId: string,
    userId: string,
    wraps: { epoch: number; wrap: Uint8Array }[],
  ) {
    const chat = await this.requireMember(chatId, actorId);
    if (chat.kind === 'direct')
      throw new BadRequestError('Members cannot be added to a direct chat.');
    await this.assertUsersReady([userId]);
    const full = wraps.map((w) => ({ ...w, userId }));
    if (new Set(wraps.map((w) => w.epoch)).size !== wraps.length)
      throw new BadRequestError('Two wraps for one epoch.');
    await this.checkWraps(chatId, actorId, full);
    const { epoch, lastSeq } = await withTransaction(this.pool, async (client) => {
      const repo = new ChatRepository(client);
      const locked = (await repo.lockChat(chatId))!;
      const members = await repo.activeMembers(chatId);
      if (members.some((m) => m.user_id === userId))
        throw new ConflictError('already-member', 'Already a member.');
      if (members.length >= MAX_GROUP_MEMBERS)
        throw new BadRequestError(`At most ${MAX_GROUP_MEMBERS} members.`);
      if (!wraps.some((w) => w.epoch === locked.current_epoch))
        throw new StaleEpochError(locked.current_epoch);
      if (wraps.some((w) => w.epoch > locked.current_epoch))
        throw new BadRequestError('A wrap names a future epoch.');
      await repo.insertMembers(chatId, [userId], chat.created_by, locked.current_epoch);
      await repo.insertWraps(chatId, actorId, full);
      return { epoch: locked.current_epoch, lastSeq: Number(locked.last_seq) };
    });
    await this.events.publish({
      type: 'member.changed',
      chatId,
      userId,
      change: 'added',
      by: actorId,
      epoch,
      lastSeq,
    });
    return this.get(chatId, actorId);
  }

  /**
   * Starts epoch `current + 1` with a fresh key wrapped to the remaining members, removing
   * `remove` in the same transaction, so a removed member never gets the new key. Messages on the
   * old epoch are refused from then on.
   */
  async rotate(
    chatId: string,
    actorId: string,
    input: { epoch: number; keyWraps: KeyWrapInput[]; remove: string[] },
  ) {
    const chat = await this.requireMember(chatId, actorId);
    const remove = [...new Set(input.remove)];
    if (remove.includes(actorId))
      throw new BadRequestError('Rotate as a remaining member; you cannot remove yourself here.');
    if (remove.length && chat.kind === 'direct')
      throw new BadRequestError('Members cannot be removed from a direct chat.');
    const wraps = input.keyWraps.map((w) => ({ ...w, epoch: input.epoch }));
    await this.checkWraps(chatId, actorId, wraps);
    await withTransaction(this.pool, async (client) => {
      const repo = new ChatRepository(client);
      const locked = (await repo.lockChat(chatId))!;
      if (input.epoch !== locked.current_epoch + 1) throw new StaleEpochError(locked.current_epoch);
      const members = await repo.activeMembers(chatId);
      const actor = members.find((m) => m.user_id === actorId);
      if (!actor) throw new NotFoundError();
      if (remove.length && actor.role === 'member')
        throw new ForbiddenError('Only the owner or an admin removes members.');
      const unknown = remove.filter((id) => !members.some((m) => m.user_id === id));
      if (unknown.length) throw new NotFoundError('No such member.');
      const remaining = members.map((m) => m.user_id).filter((id) => !remove.includes(id));
      ChatService.exactlyFor(input.keyWraps, remaining);
      if (remove.length) await repo.removeMembers(chatId, remove);
      await repo.insertEpoch(chatId, input.epoch, actorId);
      await repo.setEpoch(chatId, input.epoch);
      await repo.insertWraps(chatId, actorId, wraps);
    });
    await this.events.publish({ type: 'key.rotated', chatId, epoch: input.epoch, by: actorId });
    for (const userId of remove) {
      await this.events.publish({
        type: 'member.changed',
        chatId,
        userId,
        change: 'removed',
        by: actorId,
        epoch: input.epoch,
        lastSeq: 0,
      });
    }
    return this.get(chatId, actorId);
  }

  /** The caller's wraps for every epoch it was given; the client verifies each wrapper's signature. */
  async myKeys(chatId: string, userId: string) {
    await this.access.requireChatMember(userId, chatId);
    return (await this.repo.wrapsFor(chatId, userId)).map((w) => ({
      epoch: w.epoch,
      wrap: base64Encode(w.encrypted_key),
      wrappedBy: w.wrapped_by,
    }));
  }

  /**
   * Stores a message the sender encrypted and signed. Idempotent on the client's id: the same
   * message again returns the stored one (`created: false`); another message under a used id is
   * a 409. Mentions become outbox rows for the agent-run worker, in the same transaction.
   */
  async post(
    chatId: string,
    senderId: string,
    input: {
      id: string;
      epoch: number;
      ciphertext: Uint8Array;
      signature: Uint8Array;
      mentions: string[];
      decryptionPermissions: Record<string, unknown>;
    },
  ): Promise<{ message: MessageView; created: boolean }> {
    // The hot path is one round trip: membership is checked by the append itself. Every refusal
    // asks about membership first, so a non-member still gets the same 404 as for no chat at all.
    const refuse = async (err: Error): Promise<never> => {
      await this.access.requireChatMember(senderId, chatId);
      throw err;
    };
    const signingKey = await this.signingKeyOf(senderId).catch(refuse);
    let ok = false;
    try {
      ok = await verifyMessageSignature({
        chatId,
        messageId: input.id,
        epoch: input.epoch,
        senderId,
        encryptedContent: input.ciphertext,
        signature: input.signature,
        senderEd25519PublicKey: signingKey,
      });
    } catch (err) {
      await refuse(new BadRequestError(`The message is malformed: ${(err as Error).message}`));
    }
    if (!ok) await refuse(new BadSignatureError('The message is not signed by its sender.'));
    const row = await this.repo.appendMessage({
      id: input.id,
      chatId,
      senderId,
      epoch: input.epoch,
      ciphertext: input.ciphertext,
      signature: input.signature,
      mentions: [...new Set(input.mentions)],
      decryptionPermissions: input.decryptionPermissions,
    });
    if (row) {
      const message = messageView(row);
      await this.events.publish({ type: 'message.created', chatId, message });
      return { message, created: true };
    }
    return { message: await this.whyNotAppended(chatId, senderId, input), created: false };
  }

  /**
   * A message the gateway sealed for an agent of `ownerId` and signed with its own key (the
   * gateway's tools call this after their permission check). Verified here against that key,
   * stored with `sender_agent`, fanned out like any message; agents' posts trigger no agent runs.
   */
  async postAsAgent(
    chatId: string,
    ownerId: string,
    agentName: string,
    input: { id: string; epoch: number; ciphertext: Uint8Array; signature: Uint8Array },
    gatewayEd25519PublicKey: Uint8Array,
  ): Promise<{ id: string; seq: number }> {
    const ok = await verifyMessageSignature({
      chatId,
      messageId: input.id,
      epoch: input.epoch,
      senderId: agentSenderId(ownerId, agentName),
      encryptedContent: input.ciphertext,
      signature: input.signature,
      senderEd25519PublicKey: gatewayEd25519PublicKey,
    });
    if (!ok) throw new BadSignatureError('The agent message is not signed by the gateway.');
    const row = await this.repo.appendMessage({
      ...input,
      chatId,
      senderId: ownerId,
      mentions: [],
      decryptionPermissions: {},
      senderAgent: agentName,
    });
    if (!row) {
      const chat = await this.requireMember(chatId, ownerId);
      if (input.epoch !== chat.current_epoch) throw new StaleEpochError(chat.current_epoch);
      throw new ConflictError('conflict', 'The message could not be stored; retry it.');
    }
    const message = messageView(row);
    await this.events.publish({ type: 'message.created', chatId, message });
    return { id: message.id, seq: message.seq };
  }

  /** The slow path of `post`: a retry of a stored message, or a 409 / 404 saying why not. */
  private async whyNotAppended(
    chatId: string,
    senderId: string,
    input: { id: string; epoch: number; ciphertext: Uint8Array },
  ): Promise<MessageView> {
    // A non-member learns nothing, not even whether the message id is taken.
    const chat = await this.requireMember(chatId, senderId);
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

  async deleteMessage(chatId: string, userId: string, messageId: string): Promise<void> {
    await this.access.requireChatMember(userId, chatId);
    const row = await this.repo.deleteMessage(messageId, chatId, userId);
    if (!row) throw new NotFoundError('No such message of yours.');
    await this.events.publish({ type: 'message.deleted', chatId, messageId, seq: Number(row.seq) });
  }
}
