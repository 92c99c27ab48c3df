import type { AccessService } from '../access/index.ts';
import type { MembershipEntry } from '../crypto/membership.ts';
import type { Pool, Queryable } from '../db/pool.ts';
import type { ChatView } from '../wire/chat.ts';
import type { ChatRow } from './chat.repository.ts';
import type { ChatEvents } from './events.ts';
import { type KeyWrapInput, MembershipService } from './membership.service.ts';
import { MessageService, type PostInput } from './messages.service.ts';

export { BadSignatureError, messageView, StaleEpochError } from './chat.views.ts';
export type { ChatView, KeyWrapInput, PostInput };

/**
 * Vchat's one entry point for routes and the hub: membership, epochs and the signed log live in
 * `MembershipService`, messages in `MessageService`; this only hands each call to its owner.
 */
export class ChatService {
  readonly membership: MembershipService;
  readonly messages: MessageService;

  constructor(pool: Pool, events: ChatEvents, access: AccessService) {
    this.membership = new MembershipService(pool, events, access);
    this.messages = new MessageService(pool, events, this.membership, access);
  }

  requireMember(chatId: string, userId: string): Promise<ChatRow> {
    return this.membership.requireMember(chatId, userId);
  }

  create(creatorId: string, input: Parameters<MembershipService['create']>[1]): Promise<ChatView> {
    return this.membership.create(creatorId, input);
  }

  list(userId: string) {
    return this.membership.list(userId);
  }

  get(chatId: string, userId: string) {
    return this.membership.get(chatId, userId);
  }

  chatIdsOf(userId: string) {
    return this.membership.chatIdsOf(userId);
  }

  log(chatId: string, userId: string, after: number) {
    return this.membership.log(chatId, userId, after);
  }

  addMember(
    chatId: string,
    actorId: string,
    input: { entry: MembershipEntry; keyWraps: { epoch: number; wrap: Uint8Array }[] },
  ) {
    return this.membership.addMember(chatId, actorId, input);
  }

  rotate(
    chatId: string,
    actorId: string,
    input: { keyWraps: KeyWrapInput[]; entries: MembershipEntry[] },
  ) {
    return this.membership.rotate(chatId, actorId, input);
  }

  myKeys(chatId: string, userId: string) {
    return this.membership.myKeys(chatId, userId);
  }

  /** `alongside` runs in the message's transaction (a file share stored with its card). */
  post(
    chatId: string,
    senderId: string,
    input: PostInput,
    opts: { alongside?: (tx: Queryable) => Promise<void> } = {},
  ) {
    return this.messages.post(chatId, senderId, input, opts);
  }

  /** For the MCP gateway (its `AgentPoster`): a message it sealed and signed for an agent. */
  postAsAgent(...args: Parameters<MessageService['postAsAgent']>) {
    return this.messages.postAsAgent(...args);
  }

  history(
    chatId: string,
    userId: string,
    cursor: { before?: number; after?: number },
    limit: number,
  ) {
    return this.messages.history(chatId, userId, cursor, limit);
  }

  between(chatId: string, afterSeq: number, beforeSeq: number) {
    return this.messages.between(chatId, afterSeq, beforeSeq);
  }

  deleteMessage(chatId: string, userId: string, messageId: string, tombstone: Uint8Array) {
    return this.messages.deleteMessage(chatId, userId, messageId, tombstone);
  }
}
