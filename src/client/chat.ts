/**
 * The chat half of the SDK. Nothing the server says about membership, epochs or keys is taken
 * as is: each chat's signed membership log is verified from entry 0 and must extend the head
 * this device holds; a key wrap is accepted only from a member the log authorises for that
 * epoch and only if the key matches the epoch's commitment; messages must be signed by a member
 * of their epoch and are checked against their sender's chain. A 409 or a `key.rotated` event
 * only makes the client re-fetch and verify the log.
 */
import { base64Decode, base64Encode, hexDecode, randomBytes } from '../crypto/bytes.ts';
import { type ChatKey, generateChatKey, unwrapChatKey, wrapChatKey } from '../crypto/chatkeys.ts';
import { isCryptoError } from '../crypto/errors.ts';
import {
  LOG_GENESIS_PREV,
  type MembershipState,
  mayWrap,
  membershipEntryToJson,
} from '../crypto/membership.ts';
import {
  type AgentPolicy,
  CHAIN_ID_BYTES,
  MESSAGE_HASH_BYTES,
  messageHash,
  sealMessage,
  signTombstone,
} from '../crypto/messages.ts';
import { uuidv7 } from '../crypto/uuid.ts';
import type { ChatView, KeyWrapView, MessageView } from '../wire/chat.ts';
import { MessageReader } from './chat-read.ts';
import { ChatLogs, clientError, type LogVerification } from './chatlog.ts';
import type { ClientContext } from './context.ts';
import { VutlerApiError } from './http.ts';
import type { TrustClient } from './trust.ts';
import type { ChatMessage, LiveChats } from './types.ts';

export type Chat = ChatView;
export type { ChatMessage, MessageView };

export interface SendOptions {
  mentions?: string[];
  replyTo?: string | null;
  /** `{ agents: 'deny' }` keeps granted agents from reading this one message. */
  decryptionPermissions?: AgentPolicy;
  /** File cards: the shares this message carries (see `drive.share`). */
  attachments?: { fileId: string; shareId: string }[];
  /**
   * Posts the sealed message somewhere else than `POST /api/chats/:id/messages` (a file share
   * posts its card with the share, in one transaction). Called again on a stale-epoch retry.
   */
  deliver?: (message: OutgoingMessage) => Promise<MessageView>;
}

/** A sealed, signed message as the server takes it (the body of POST …/messages). */
export interface OutgoingMessage {
  id: string;
  epoch: number;
  ciphertext: string;
  signature: string;
  chain: { id: string; counter: number; prev: string };
  mentions: string[];
  decryptionPermissions: AgentPolicy;
}

export class ChatsClient implements LiveChats {
  private readonly keys = new Map<string, ChatKey>();
  private readonly logs: ChatLogs;
  private readonly reader: MessageReader;

  constructor(
    private readonly c: ClientContext,
    private readonly trust: TrustClient,
  ) {
    this.logs = new ChatLogs(c, trust);
    this.reader = new MessageReader(c, trust, this.logs, (chatId, epoch) =>
      this.key(chatId, epoch),
    );
  }

  /** A `key.rotated` event or a 409: re-fetch and verify the log before the next use. */
  hint(chatId: string): void {
    this.logs.hint(chatId);
  }

  /** Drops every cached chat key (sign out). */
  forget(): void {
    this.keys.clear();
  }

  /** The verified membership state of a chat (fetching and verifying the log if needed). */
  membership(chatId: string): Promise<MembershipState> {
    return this.logs.membership(chatId);
  }

  /** Fetches what is new in the log and verifies it onto what this device holds. */
  sync(chatId: string): Promise<MembershipState> {
    return this.logs.sync(chatId);
  }

  /** How this client last verified the chat's log: how many entries, signatures checked from where. */
  verification(chatId: string): LogVerification | undefined {
    return this.logs.verification(chatId);
  }

  /**
   * Publishes a signed log anchor for the state held now (done on its own in the background
   * every `ANCHOR_EVERY` entries); a new device of this account checks signatures only after it.
   */
  publishAnchor(chatId: string): Promise<void> {
    return this.logs.publishAnchor(chatId);
  }

  /** Resolves once background anchor uploads are done. */
  anchorsSettled(): Promise<void> {
    return this.logs.anchorsSettled();
  }

  // ---------------------------------------------------------------------------------------
  // Chats and members

  private async wrapFor(key: ChatKey, users: { id: string; vouched?: string }[]) {
    const me = this.c.unlocked();
    const signer = { id: me.id, signingKey: me.identity.ed25519.privateKey };
    return Promise.all(
      users.map(async (u) => {
        const { identity } = await this.trust.identityOf(u.id, u.vouched);
        const wrap = await wrapChatKey(
          key,
          { memberId: u.id, x25519PublicKey: identity.x25519PublicKey },
          signer,
        );
        return { userId: u.id, wrap: base64Encode(wrap) };
      }),
    );
  }

  async create(input: { kind: 'direct' | 'group'; memberIds: string[] }): Promise<Chat> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.createOnce(input);
      } catch (err) {
        // A taken id (or a lost race) answers a plain conflict: choose another id once.
        if (attempt === 0 && err instanceof VutlerApiError && err.type === 'conflict') continue;
        throw err;
      }
    }
  }

  private async createOnce(input: { kind: 'direct' | 'group'; memberIds: string[] }) {
    const me = this.c.unlocked();
    const id = globalThis.crypto.randomUUID();
    const key = await generateChatKey(id, 0);
    const others = [...new Set(input.memberIds)].filter((u) => u !== me.id);
    const identities = await Promise.all(others.map((u) => this.trust.identityOf(u)));
    const self = await this.trust.identityOf(me.id);
    const log = await this.logs.signEntries({ chatId: id, length: 0, head: LOG_GENESIS_PREV }, [
      {
        epoch: 0,
        action: 'create',
        subjectId: me.id,
        subjectFingerprint: hexDecode(self.digest),
        role: 'owner',
        keyCommitment: key.commitment,
      },
      ...others.map((u, i) => ({
        epoch: 0,
        action: 'add',
        subjectId: u,
        subjectFingerprint: hexDecode(identities[i]!.digest),
        role: 'member',
        keyCommitment: null,
      })),
    ]);
    const keyWraps = await this.wrapFor(key, [{ id: me.id }, ...others.map((u) => ({ id: u }))]);
    const chat = await this.c.http.request<Chat>('/api/chats', {
      body: { id, kind: input.kind, keyWraps, log: log.map(membershipEntryToJson) },
    });
    this.keys.set(`${id}:0`, key);
    await this.logs.adopt(id, await this.logs.verify(id, log));
    return chat;
  }

  async list(): Promise<Chat[]> {
    return (await this.c.http.request<{ chats: Chat[] }>('/api/chats')).chats;
  }

  /** The server's view of a chat (display only: the verified log is what this client trusts). */
  async get(chatId: string): Promise<Chat> {
    return this.c.http.request<Chat>(`/api/chats/${encodeURIComponent(chatId)}`);
  }

  /** Members per the verified log, with the role and key digest the log recorded. */
  async members(chatId: string) {
    const state = await this.membership(chatId);
    return [...state.members].map(([userId, m]) => ({ userId, ...m }));
  }

  /** Adds a member with a signed `add` entry and the current key (`history`: all keys held). */
  async addMember(chatId: string, userId: string, opts: { history?: boolean } = {}): Promise<Chat> {
    const state = await this.sync(chatId);
    const vouched = state.fingerprints.get(userId);
    const subject = await this.trust.identityOf(userId, vouched);
    const [entry] = await this.logs.signEntries(state, [
      {
        epoch: state.epoch,
        action: 'add',
        subjectId: userId,
        subjectFingerprint: hexDecode(subject.digest),
        role: 'member',
        keyCommitment: null,
      },
    ]);
    const epochs = opts.history ? [...state.epochs.keys()] : [state.epoch];
    const keyWraps: { epoch: number; wrap: string }[] = [];
    for (const epoch of epochs) {
      const key = await this.key(chatId, epoch).catch(() => undefined);
      if (!key) continue;
      const [w] = await this.wrapFor(key, [{ id: userId, vouched: subject.digest }]);
      keyWraps.push({ epoch, wrap: w!.wrap });
    }
    const chat = await this.c.http.request<Chat>(
      `/api/chats/${encodeURIComponent(chatId)}/members`,
      { body: { entry: membershipEntryToJson(entry!), keyWraps } },
    );
    await this.logs.adopt(chatId, await this.logs.verify(chatId, [entry!], state));
    return chat;
  }

  /** Starts a new epoch whose key only the remaining members get; `remove` leave in the same step. */
  async rotate(chatId: string, opts: { remove?: string[] } = {}): Promise<Chat> {
    const me = this.c.unlocked();
    const state = await this.sync(chatId);
    const remove = [...new Set(opts.remove ?? [])];
    for (const r of remove)
      if (!state.members.has(r)) throw clientError('not-a-member', `${r} is not a member.`);
    const epoch = state.epoch + 1;
    const key = await generateChatKey(chatId, epoch);
    const self = await this.trust.identityOf(me.id);
    const entries = await this.logs.signEntries(state, [
      ...remove.map((r) => ({
        epoch: state.epoch,
        action: 'remove',
        subjectId: r,
        subjectFingerprint: hexDecode(state.members.get(r)!.fingerprint),
        role: '',
        keyCommitment: null,
      })),
      {
        epoch,
        action: 'rotate',
        subjectId: me.id,
        subjectFingerprint: hexDecode(self.digest),
        role: '',
        keyCommitment: key.commitment,
      },
    ]);
    const next = await this.logs.verify(chatId, entries, state);
    const remaining = [...next.members].map(([id, m]) => ({ id, vouched: m.fingerprint }));
    const keyWraps = await this.wrapFor(key, remaining);
    const updated = await this.c.http.request<Chat>(
      `/api/chats/${encodeURIComponent(chatId)}/epochs`,
      { body: { keyWraps, entries: entries.map(membershipEntryToJson) } },
    );
    this.keys.set(`${chatId}:${epoch}`, key);
    await this.logs.adopt(chatId, next);
    return updated;
  }

  removeMember(chatId: string, userId: string): Promise<Chat> {
    return this.rotate(chatId, { remove: [userId] });
  }

  // ---------------------------------------------------------------------------------------
  // Keys

  /**
   * The chat key of one epoch. The epoch must be in the verified log; the wrap must come from a
   * member of that epoch (per the log) whose key is pinned, and open to the committed key.
   */
  async key(chatId: string, epoch: number): Promise<ChatKey> {
    const cached = this.keys.get(`${chatId}:${epoch}`);
    if (cached) return cached;
    const me = this.c.unlocked();
    let state = await this.membership(chatId);
    if (!state.epochs.has(epoch)) state = await this.sync(chatId);
    const info = state.epochs.get(epoch);
    if (!info) {
      throw clientError('unknown-epoch', `Epoch ${epoch} is not in the chat's membership log.`);
    }
    const res = await this.c.http.request<{ keys: KeyWrapView[] }>(
      `/api/chats/${encodeURIComponent(chatId)}/keys`,
    );
    const entry = res.keys.find((k) => k.epoch === epoch);
    if (!entry)
      throw clientError('no-key', `No key for epoch ${epoch} of this chat was shared with you.`);
    if (!mayWrap(state, epoch, entry.wrappedBy, me.id)) state = await this.sync(chatId);
    if (!mayWrap(state, epoch, entry.wrappedBy, me.id)) {
      throw clientError(
        'untrusted-wrap',
        'The chat key was wrapped by someone the membership log does not authorise for that epoch.',
      );
    }
    const wrapper = await this.trust.identityOf(
      entry.wrappedBy,
      state.fingerprints.get(entry.wrappedBy),
    );
    try {
      const key = await unwrapChatKey({
        chatId,
        epoch,
        envelope: base64Decode(entry.wrap),
        member: { id: me.id, x25519: me.identity.x25519 },
        wrapper: { id: entry.wrappedBy, ed25519PublicKey: wrapper.identity.ed25519PublicKey },
        commitment: info.commitment,
        exportable: true,
      });
      this.keys.set(`${chatId}:${epoch}`, key);
      return key;
    } catch (err) {
      if (isCryptoError(err, 'commitment_mismatch')) {
        throw clientError(
          'key-commitment-mismatch',
          `The key you were given for epoch ${epoch} is not the one its creator committed to.`,
        );
      }
      if (isCryptoError(err)) {
        throw clientError('untrusted-wrap', `The chat key wrap was rejected: ${err.message}`);
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Messages

  /**
   * Encrypts, signs (with this device's chain position) and sends: no request besides the POST
   * once the chat's log and key are held. On a 409 stale-epoch it re-verifies the log and
   * retries once, only on an epoch the log shows.
   */
  async send(chatId: string, text: string, opts: SendOptions = {}): Promise<MessageView> {
    const me = this.c.unlocked();
    const device = this.c.device();
    const id = uuidv7();
    const chainId = base64Decode(
      await device.chainId(() => base64Encode(randomBytes(CHAIN_ID_BYTES))),
    );
    const head = await device.sendHead(chatId);
    const chain = head
      ? { chainId, counter: head.counter + 1, prev: base64Decode(head.hash, MESSAGE_HASH_BYTES) }
      : { chainId, counter: 0, prev: new Uint8Array(MESSAGE_HASH_BYTES) };
    let state = await this.membership(chatId);
    for (let attempt = 0; ; attempt++) {
      if (state.pendingRotation) {
        throw clientError('rotation-pending', 'A member was removed; rotate the chat key first.');
      }
      if (!state.members.has(me.id)) throw clientError('not-a-member', 'You left this chat.');
      const epoch = state.epoch;
      const key = await this.key(chatId, epoch);
      const mentions = opts.mentions ?? [];
      const decryptionPermissions = opts.decryptionPermissions ?? {};
      const sealed = await sealMessage({
        chatKey: key,
        header: {
          messageId: id,
          sender: { kind: 'user', userId: me.id },
          chain,
          mentions,
          decryptionPermissions,
        },
        body: { text, replyTo: opts.replyTo ?? null, attachments: opts.attachments ?? [] },
        signingKey: me.identity.ed25519.privateKey,
      });
      try {
        const outgoing: OutgoingMessage = {
          id,
          epoch,
          ciphertext: base64Encode(sealed.encryptedContent),
          signature: base64Encode(sealed.signature),
          chain: {
            id: base64Encode(chain.chainId),
            counter: chain.counter,
            prev: base64Encode(chain.prev),
          },
          mentions,
          decryptionPermissions,
        };
        const message = opts.deliver
          ? await opts.deliver(outgoing)
          : (
              await this.c.http.request<{ message: MessageView }>(
                `/api/chats/${encodeURIComponent(chatId)}/messages`,
                { body: outgoing },
              )
            ).message;
        await device.setSendHead(chatId, {
          counter: chain.counter,
          hash: base64Encode(sealed.hash),
        });
        return message;
      } catch (err) {
        if (attempt === 0 && err instanceof VutlerApiError && err.type === 'stale-epoch') {
          // The 409 body's epoch is only a hint: the verified log decides.
          state = await this.sync(chatId);
          if (state.epoch > epoch) continue;
          throw clientError(
            'unverified-epoch',
            'The server refused the current epoch but the membership log shows no newer one.',
          );
        }
        throw err;
      }
    }
  }

  /** Decrypts and verifies one stored message; never throws for a bad message, it reports it. */
  open(view: MessageView): Promise<ChatMessage> {
    return this.reader.open(view);
  }

  /** A page of history, decrypted and verified, with each sender's chain checked. */
  history(
    chatId: string,
    cursor: { before?: number; after?: number; limit?: number } = {},
  ): Promise<ChatMessage[]> {
    return this.reader.history(chatId, cursor);
  }

  /** Deletes one of your messages with a tombstone you sign for exactly it. */
  async deleteMessage(chatId: string, message: MessageView | string): Promise<void> {
    const me = this.c.unlocked();
    const view =
      typeof message === 'string'
        ? (
            await this.c.http.request<{ messages: MessageView[] }>(
              `/api/chats/${encodeURIComponent(chatId)}/messages`,
              { query: { limit: '200' } },
            )
          ).messages.find((m) => m.id === message)
        : message;
    if (!view?.chain || !view.signature || view.senderId !== me.id) {
      throw clientError('not-found', 'No such message of yours in this chat.');
    }
    const tombstone = await signTombstone(
      {
        chatId,
        messageId: view.id,
        sender: { kind: 'user', userId: me.id },
        chainId: base64Decode(view.chain.id, CHAIN_ID_BYTES),
        counter: view.chain.counter,
        hash: await messageHash(base64Decode(view.signature)),
      },
      me.identity.ed25519.privateKey,
    );
    await this.c.http.request(
      `/api/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(view.id)}`,
      { method: 'DELETE', body: { tombstone: base64Encode(tombstone) } },
    );
  }
}
