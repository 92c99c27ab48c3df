/**
 * The chat half of the SDK: creates chats and rotates their keys, encrypts, signs and sends
 * messages, and decrypts and verifies what comes back. Nothing the server hands over is trusted
 * without a check: key wraps must be signed by a member, messages by their sender, identities by
 * their own signing key.
 */

import type { ChatView, MessageView } from '../chat/types.ts';
import { base64Decode, base64Encode } from '../crypto/bytes.ts';
import { type ChatKey, generateChatKey, unwrapChatKey, wrapChatKey } from '../crypto/chatkeys.ts';
import { isCryptoError } from '../crypto/errors.ts';
import { agentSenderId } from '../crypto/grants.ts';
import type { IdentityPublic } from '../crypto/identity.ts';
import { type MessageBody, openMessage, sealMessage } from '../crypto/messages.ts';
import { uuidv7 } from '../crypto/uuid.ts';
import { VutlerApiError, VutlerClientError } from './http.ts';
import type { VutlerClient } from './index.ts';

export type Chat = ChatView;
export type { MessageView };

export type MessageStatus = 'ok' | 'deleted' | 'no-key' | 'rejected';

export interface ChatMessage {
  id: string;
  chatId: string;
  seq: number;
  senderId: string | null;
  /** Set for a message an agent posted through the gateway (`senderId` is its owner). */
  senderAgent: string | null;
  epoch: number;
  createdAt: string;
  mentions: string[];
  status: MessageStatus;
  /** Present only when `status` is `ok`: decrypted and signature-checked. */
  body?: MessageBody;
  /** Why a message could not be shown (`rejected` / `no-key`). */
  reason?: string;
}

export interface SendOptions {
  mentions?: string[];
  replyTo?: string | null;
  /** `{ agents: 'deny' }` keeps granted agents from reading this one message. */
  decryptionPermissions?: { agents?: 'allow' | 'deny' | string[] };
}

export class ChatsClient {
  private readonly keys = new Map<string, ChatKey>();
  private readonly identities = new Map<string, IdentityPublic>();
  /** Last known epoch per chat; a stale one costs a 409 and one retry, not a GET per send. */
  private readonly epochs = new Map<string, number>();

  constructor(private readonly c: VutlerClient) {}

  private me() {
    const user = this.c.user;
    if (!user || !this.c.identity)
      throw new VutlerClientError('locked', 'Log in and unlock encryption first.');
    return { id: user.id, identity: this.c.identity };
  }

  /** Records a newer epoch learnt elsewhere (e.g. a `key.rotated` event). */
  noteEpoch(chatId: string, epoch: number): void {
    if (epoch > (this.epochs.get(chatId) ?? -1)) this.epochs.set(chatId, epoch);
  }

  /** A user's verified public identity, cached for this client's lifetime. */
  async identityOf(userId: string): Promise<IdentityPublic> {
    let id = this.identities.get(userId);
    if (!id) {
      id = (await this.c.publicIdentity(userId)).identity;
      this.identities.set(userId, id);
    }
    return id;
  }

  private async wrapFor(key: ChatKey, userIds: string[]) {
    const me = this.me();
    const signer = { id: me.id, signingKey: me.identity.ed25519.privateKey };
    return Promise.all(
      userIds.map(async (userId) => {
        const identity = await this.identityOf(userId);
        const wrap = await wrapChatKey(
          key,
          { memberId: userId, x25519PublicKey: identity.x25519PublicKey },
          signer,
        );
        return { userId, wrap: base64Encode(wrap) };
      }),
    );
  }

  async create(input: { kind: 'direct' | 'group'; memberIds: string[] }): Promise<Chat> {
    const me = this.me();
    const id = globalThis.crypto.randomUUID();
    const key = await generateChatKey(id, 0);
    const all = [...new Set([me.id, ...input.memberIds])];
    const keyWraps = await this.wrapFor(key, all);
    const chat = await this.c.http.request<Chat>('/api/chats', {
      body: { id, kind: input.kind, memberIds: input.memberIds, keyWraps },
    });
    this.keys.set(`${id}:0`, key);
    this.epochs.set(id, 0);
    return chat;
  }

  async list(): Promise<Chat[]> {
    return (await this.c.http.request<{ chats: Chat[] }>('/api/chats')).chats;
  }

  async get(chatId: string): Promise<Chat> {
    const chat = await this.c.http.request<Chat>(`/api/chats/${encodeURIComponent(chatId)}`);
    this.epochs.set(chat.id, chat.currentEpoch);
    return chat;
  }

  /**
   * The chat key of one epoch. Wraps come from the server, so each is checked: it must be signed
   * by its stated wrapper, who must be (or have been) a member of the chat.
   */
  async key(chatId: string, epoch: number): Promise<ChatKey> {
    const cached = this.keys.get(`${chatId}:${epoch}`);
    if (cached) return cached;
    const me = this.me();
    const [chat, res] = await Promise.all([
      this.get(chatId),
      this.c.http.request<{ keys: { epoch: number; wrap: string; wrappedBy: string }[] }>(
        `/api/chats/${encodeURIComponent(chatId)}/keys`,
      ),
    ]);
    const everMember = new Set([
      ...chat.members.map((m) => m.userId),
      ...chat.formerMembers.map((m) => m.userId),
    ]);
    const entry = res.keys.find((k) => k.epoch === epoch);
    if (!entry)
      throw new VutlerClientError(
        'no-key',
        `No key for epoch ${epoch} of this chat was shared with you.`,
      );
    if (!everMember.has(entry.wrappedBy)) {
      throw new VutlerClientError(
        'untrusted-wrap',
        'The chat key was wrapped by someone who is not a member.',
      );
    }
    const wrapper = await this.identityOf(entry.wrappedBy);
    try {
      const key = await unwrapChatKey({
        chatId,
        epoch,
        envelope: base64Decode(entry.wrap),
        member: { id: me.id, x25519: me.identity.x25519 },
        wrapper: { id: entry.wrappedBy, ed25519PublicKey: wrapper.ed25519PublicKey },
        exportable: true,
      });
      this.keys.set(`${chatId}:${epoch}`, key);
      return key;
    } catch (err) {
      if (isCryptoError(err)) {
        throw new VutlerClientError(
          'untrusted-wrap',
          `The chat key wrap was rejected: ${err.message}`,
        );
      }
      throw err;
    }
  }

  /** Encrypts, signs and sends. On a stale epoch (someone rotated) it fetches the new key and retries once. */
  async send(chatId: string, text: string, opts: SendOptions = {}): Promise<MessageView> {
    const me = this.me();
    let epoch = this.epochs.get(chatId) ?? (await this.get(chatId)).currentEpoch;
    const id = uuidv7();
    for (let attempt = 0; ; attempt++) {
      const key = await this.key(chatId, epoch);
      const sealed = await sealMessage({
        chatKey: key,
        messageId: id,
        senderId: me.id,
        body: { text, replyTo: opts.replyTo ?? null, attachments: [] },
        signingKey: me.identity.ed25519.privateKey,
      });
      try {
        const res = await this.c.http.request<{ message: MessageView }>(
          `/api/chats/${encodeURIComponent(chatId)}/messages`,
          {
            body: {
              id,
              epoch,
              ciphertext: base64Encode(sealed.encryptedContent),
              signature: base64Encode(sealed.signature),
              mentions: opts.mentions ?? [],
              decryptionPermissions: opts.decryptionPermissions ?? {},
            },
          },
        );
        return res.message;
      } catch (err) {
        if (attempt === 0 && err instanceof VutlerApiError && err.type === 'stale-epoch') {
          epoch = Number(err.body.currentEpoch);
          this.epochs.set(chatId, epoch);
          continue;
        }
        throw err;
      }
    }
  }

  /** Decrypts and verifies one stored message; never throws for a bad message, it reports it. */
  async open(view: MessageView): Promise<ChatMessage> {
    const base = {
      id: view.id,
      chatId: view.chatId,
      seq: view.seq,
      senderId: view.senderId,
      senderAgent: view.senderAgent,
      epoch: view.epoch,
      createdAt: view.createdAt,
      mentions: view.mentions,
    };
    if (view.deletedAt || !view.ciphertext || !view.signature)
      return { ...base, status: 'deleted' };
    if (!view.senderId) return { ...base, status: 'rejected', reason: 'no sender' };
    let key: ChatKey;
    try {
      key = await this.key(view.chatId, view.epoch);
    } catch (err) {
      if (err instanceof VutlerClientError && err.code === 'no-key')
        return { ...base, status: 'no-key', reason: err.message };
      return { ...base, status: 'rejected', reason: (err as Error).message };
    }
    try {
      // An agent's message is signed by the gateway (as the key this device pinned), bound to
      // the agent and its owner: no person's key verifies it, and it verifies no one else's.
      const signer = view.senderAgent
        ? {
            id: agentSenderId(view.senderId, view.senderAgent),
            key: (await this.c.agents.gateway()).ed25519PublicKey,
          }
        : { id: view.senderId, key: (await this.identityOf(view.senderId)).ed25519PublicKey };
      const body = await openMessage({
        chatKey: key,
        messageId: view.id,
        senderId: signer.id,
        encryptedContent: base64Decode(view.ciphertext),
        signature: base64Decode(view.signature),
        senderEd25519PublicKey: signer.key,
      });
      return { ...base, status: 'ok', body };
    } catch (err) {
      return { ...base, status: 'rejected', reason: (err as Error).message };
    }
  }

  async history(
    chatId: string,
    cursor: { before?: number; after?: number; limit?: number } = {},
  ): Promise<ChatMessage[]> {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(cursor)) if (v !== undefined) query[k] = String(v);
    const res = await this.c.http.request<{ messages: MessageView[] }>(
      `/api/chats/${encodeURIComponent(chatId)}/messages`,
      { query },
    );
    return Promise.all(res.messages.map((m) => this.open(m)));
  }

  /** Adds a member with the current epoch's key (`history: true`: every epoch this client holds). */
  async addMember(chatId: string, userId: string, opts: { history?: boolean } = {}): Promise<Chat> {
    const chat = await this.get(chatId);
    const epochs = opts.history
      ? Array.from({ length: chat.currentEpoch + 1 }, (_, i) => i)
      : [chat.currentEpoch];
    const keyWraps: { epoch: number; wrap: string }[] = [];
    for (const epoch of epochs) {
      const key = await this.key(chatId, epoch).catch(() => undefined);
      if (!key) continue;
      const [w] = await this.wrapFor(key, [userId]);
      keyWraps.push({ epoch, wrap: w!.wrap });
    }
    return this.c.http.request<Chat>(`/api/chats/${encodeURIComponent(chatId)}/members`, {
      body: { userId, keyWraps },
    });
  }

  /** Starts a new epoch whose key only the remaining members get; `remove` leave in the same step. */
  async rotate(chatId: string, opts: { remove?: string[] } = {}): Promise<Chat> {
    const chat = await this.get(chatId);
    const epoch = chat.currentEpoch + 1;
    const remove = opts.remove ?? [];
    const remaining = chat.members.map((m) => m.userId).filter((id) => !remove.includes(id));
    const key = await generateChatKey(chatId, epoch);
    const keyWraps = await this.wrapFor(key, remaining);
    const updated = await this.c.http.request<Chat>(
      `/api/chats/${encodeURIComponent(chatId)}/epochs`,
      {
        body: { epoch, keyWraps, remove },
      },
    );
    this.keys.set(`${chatId}:${epoch}`, key);
    this.epochs.set(chatId, updated.currentEpoch);
    return updated;
  }

  removeMember(chatId: string, userId: string): Promise<Chat> {
    return this.rotate(chatId, { remove: [userId] });
  }

  async deleteMessage(chatId: string, messageId: string): Promise<void> {
    await this.c.http.request(
      `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}`,
      {
        method: 'DELETE',
      },
    );
  }
}
