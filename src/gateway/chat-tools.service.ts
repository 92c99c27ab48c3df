import type { AuditInsert } from '../audit/audit.repository.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { ChatKey } from '../crypto/chatkeys.ts';
import type { GatewayKeys } from '../crypto/grants.ts';
import type { MessageBody } from '../crypto/messages.ts';
import { uuidv7 } from '../crypto/uuid.ts';
import { AppError } from '../errors.ts';
import {
  type AccessDecision,
  type AgentCaller,
  type GatewayAccess,
  type Need,
  NO_ACCESS,
} from './access.ts';
import { type AuditOutcome, auditRow, type CallMeta } from './audit-row.ts';
import type { AgentChainLocks } from './chain-lock.ts';
import type {
  CallRead,
  GatewayChatsRepository,
  GatewayMessageRow,
  MemberChatRow,
} from './chats.repository.ts';
import type { EphemeralKeys, KeyringFailure } from './ephemeral.ts';
import {
  agentChainId,
  nextAgentLink,
  openStored,
  openStoredSync,
  type StoredMessage,
  sealAsAgent,
  signerOf,
  withheldFrom,
} from './messages.ts';
import type { IdentityPins } from './pins.ts';
import { ToolRefusal } from './refusal.ts';

export type { CallMeta } from './audit-row.ts';

export type MessageStatus = 'ok' | 'withheld' | 'deleted' | 'no-key' | 'rejected';

export interface AgentMessage {
  id: string;
  seq: number;
  senderId: string | null;
  senderAgent: string | null;
  createdAt: string;
  status: MessageStatus;
  text?: string;
  replyTo?: string | null;
}

export interface ChatSummary {
  id: string;
  kind: 'direct' | 'group';
  memberCount: number;
  currentEpoch: number;
  lastSeq: number;
  createdAt: string;
  /** Whether this agent holds a grant for the current epoch (can read new messages, post). */
  readable: boolean;
}

/** Posts a message the gateway sealed and signed for an agent (implemented by ChatService). */
export interface AgentPoster {
  postAsAgent(
    chatId: string,
    ownerId: string,
    agentName: string,
    input: {
      id: string;
      epoch: number;
      ciphertext: Uint8Array;
      signature: Uint8Array;
      chain: { id: Uint8Array; counter: number; prev: Uint8Array };
    },
    gatewayEd25519PublicKey: Uint8Array,
  ): Promise<{ seq: number; id: string }>;
}

const KEY_FAILURE_HINT: Record<KeyringFailure, string> = {
  'no-grant':
    'The owner has not granted this agent the key for these messages; ask them to grant the chat.',
  'bad-grant':
    'The stored grant does not verify against the owner’s pinned identity key; ask the owner to grant again.',
  'grant-expired': 'The owner’s grant has expired; ask them to renew it.',
};

function toStored(r: GatewayMessageRow): StoredMessage {
  return {
    id: r.id,
    senderId: r.sender_id,
    senderAgent: r.sender_agent,
    encryptedContent: r.encrypted_content,
    signature: r.signature,
    chain:
      r.chain_id && r.chain_prev && r.chain_counter !== null
        ? { id: r.chain_id, counter: Number(r.chain_counter), prev: r.chain_prev }
        : null,
    mentions: r.mentions,
    decryptionPermissions: r.decryption_permissions,
    deleted: r.deleted_at !== null || !r.encrypted_content,
  };
}

/** An opened message's content, after its status (the documented key order). */
function setOpened(out: AgentMessage, body: MessageBody): void {
  out.status = 'ok';
  out.text = body.text;
  out.replyTo = body.replyTo;
}

function noAccess(): ToolRefusal {
  return new ToolRefusal(NO_ACCESS, 'Check the chat id with list_chats.', 'not-found');
}

/**
 * The chat tools' rules: permission check, grant unwrap, decryption, audit, result — per call,
 * in that order, with the audit row committed before any plaintext is returned.
 */
export class ChatToolsService {
  constructor(
    private readonly access: GatewayAccess,
    private readonly chats: GatewayChatsRepository,
    private readonly keys: EphemeralKeys,
    private readonly pins: IdentityPins,
    private readonly audit: AuditService,
    private readonly poster: AgentPoster,
    private readonly gateway: GatewayKeys,
    private readonly searchWindow: number,
    private readonly chainLocks: AgentChainLocks,
  ) {}

  private row(caller: AgentCaller, meta: CallMeta, resourceId: string, r: AuditOutcome) {
    return auditRow('chat', caller, meta, resourceId, r);
  }

  /** Audits a refusal (every requested id) and throws the one answer for it. */
  private async refuse(
    caller: AgentCaller,
    meta: CallMeta,
    d: AccessDecision,
    ids: string[],
  ): Promise<never> {
    const reason = d.refused?.reason ?? 'not-found';
    await this.audit.record(
      ids.map((id) => this.row(caller, meta, id, { outcome: 'denied', reason })),
    );
    if (d.refused) throw new ToolRefusal('Access refused.', d.refused.hint, d.refused.reason);
    throw noAccess();
  }

  /** One chat the call names: allowed, or audited and refused. */
  private async oneChat(
    caller: AgentCaller,
    meta: CallMeta,
    chatId: string,
    need: Need,
  ): Promise<MemberChatRow> {
    const d = await this.access.check(caller, need, [chatId]);
    const chat = d.allowed[0];
    if (d.refused || !chat) return this.refuse(caller, meta, d, [chatId]);
    return chat;
  }

  async listChats(caller: AgentCaller, meta: CallMeta): Promise<ChatSummary[]> {
    const d = await this.access.check(caller, { resourceType: 'chat', level: 'metadata' }, 'all');
    if (d.refused) throw new ToolRefusal('Access refused.', d.refused.hint, d.refused.reason);
    const granted = d.allowed.length
      ? await this.keys.grantedEpochs(
          caller,
          d.allowed.map((c) => c.id),
        )
      : new Map<string, Set<number>>();
    await this.audit.record(
      d.allowed.map((c) => this.row(caller, meta, c.id, { outcome: 'allowed' })),
    );
    return d.allowed.map((c) => ({
      id: c.id,
      kind: c.kind,
      memberCount: c.member_count,
      currentEpoch: c.current_epoch,
      lastSeq: Number(c.last_seq),
      createdAt: c.created_at.toISOString(),
      readable: granted.get(c.id)?.has(c.current_epoch) ?? false,
    }));
  }

  /**
   * Decrypts what the call may see of `rows`; keys are dropped when this returns. `read`: the
   * grant and pin rows for these messages when the caller read them with the messages.
   */
  private async decrypt(
    caller: AgentCaller,
    chatId: string,
    rows: GatewayMessageRow[],
    read?: Pick<CallRead, 'grants' | 'pins'>,
  ): Promise<{ messages: AgentMessage[]; decrypted: number; failure?: KeyringFailure }> {
    const stored = rows.map(toStored);
    const readable = stored.filter(
      (m) => !m.deleted && !withheldFrom(m.decryptionPermissions, caller.agentName),
    );
    const readableIds = new Set(readable.map((m) => m.id));
    const epochs = rows.filter((r) => readableIds.has(r.id)).map((r) => r.epoch);
    const people = [
      ...new Set(readable.filter((m) => !m.senderAgent && m.senderId).map((m) => m.senderId!)),
    ];
    // One read of the pins for the owner (grants) and the senders (messages).
    const pinned =
      epochs.length > 0
        ? await this.pins.callKeys(caller.userId, people, read?.pins)
        : { owner: undefined, senders: new Map<string, Uint8Array>() };
    const ring = await this.keys.open(caller, chatId, epochs, Date.now(), pinned, read?.grants);
    const signingKeys = pinned.senders;
    let decrypted = 0;
    // One plain object per row, filled in place. Under the server's Node hooks a message opens
    // synchronously (no promise per row); otherwise through WebCrypto, awaited together.
    const messages: AgentMessage[] = [];
    const opening: Promise<void>[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const m = stored[i]!;
      const out: AgentMessage = {
        id: r.id,
        seq: Number(r.seq),
        senderId: r.sender_id,
        senderAgent: r.sender_agent,
        createdAt: r.created_at.toISOString(),
        status: 'rejected',
      };
      messages.push(out);
      if (m.deleted) out.status = 'deleted';
      else if (withheldFrom(m.decryptionPermissions, caller.agentName)) out.status = 'withheld';
      else {
        const key: ChatKey | undefined = ring.keys.get(r.epoch);
        const signer = signerOf(m);
        const senderKey =
          signer?.kind === 'agent'
            ? this.gateway.ed25519.publicKey
            : signingKeys.get(r.sender_id ?? '');
        if (!key) out.status = 'no-key';
        else if (senderKey) {
          // A bad signature or ciphertext throws: the row stays 'rejected'.
          let body: MessageBody | undefined;
          try {
            body = openStoredSync(m, key, senderKey);
          } catch {
            continue;
          }
          if (body) {
            decrypted++;
            setOpened(out, body);
          } else
            opening.push(
              openStored(m, key, senderKey).then(
                (b) => {
                  decrypted++;
                  setOpened(out, b);
                },
                () => undefined,
              ),
            );
        }
      }
    }
    await Promise.all(opening);
    const failure =
      decrypted === 0 && ring.keys.size === 0 && epochs.length > 0
        ? ([...ring.refused.values()][0] ?? 'no-grant')
        : undefined;
    return { messages, decrypted, failure };
  }

  async readMessages(
    caller: AgentCaller,
    meta: CallMeta,
    input: { chatId: string; before?: number; after?: number; limit: number },
  ): Promise<{
    chatId: string;
    messages: AgentMessage[];
    nextBefore: number | null;
    nextAfter: number | null;
  }> {
    // One statement reads the permission rows, the membership, the page and its grants and pins;
    // the checks below are the same as with one query each, and come before any key is opened.
    const read = await this.chats.readCall(
      caller.userId,
      caller.agentName,
      input.chatId,
      input,
      input.limit,
    );
    const d = await this.access.check(
      caller,
      { resourceType: 'chat', level: 'decrypt_ephemeral', items: input.limit },
      [input.chatId],
      new Date(),
      this.access.views(read.permissions),
      read.chat ? [read.chat] : [],
    );
    const chat = d.allowed[0];
    if (d.refused || !chat) return this.refuse(caller, meta, d, [input.chatId]);
    const { messages, decrypted, failure } = await this.decrypt(
      caller,
      chat.id,
      read.messages,
      read,
    );
    if (failure) {
      await this.audit.record([
        this.row(caller, meta, chat.id, { outcome: 'denied', reason: failure }),
      ]);
      throw new ToolRefusal(
        'No usable grant for these messages.',
        KEY_FAILURE_HINT[failure],
        failure,
      );
    }
    await this.audit.record([
      this.row(caller, meta, chat.id, {
        outcome: 'allowed',
        decrypted: decrypted > 0,
        items: decrypted,
      }),
    ]);
    const first = messages[0];
    const last = messages[messages.length - 1];
    return {
      chatId: chat.id,
      messages,
      nextBefore: first && first.seq > 1 ? first.seq : null,
      nextAfter: last ? last.seq : null,
    };
  }

  async searchMessages(
    caller: AgentCaller,
    meta: CallMeta,
    input: { query: string; chatId?: string; window?: number; limit: number },
  ): Promise<{ matches: (AgentMessage & { chatId: string })[]; searched: number }> {
    const need: Need = { resourceType: 'chat', level: 'decrypt_ephemeral', items: input.limit };
    const d = await this.access.check(caller, need, input.chatId ? [input.chatId] : 'all');
    if (d.refused || (input.chatId && d.allowed.length === 0))
      return this.refuse(caller, meta, d, input.chatId ? [input.chatId] : []);
    const window = Math.min(input.window ?? this.searchWindow, this.searchWindow);
    const needle = input.query.toLocaleLowerCase();
    const matches: (AgentMessage & { chatId: string })[] = [];
    const rows: AuditInsert[] = [];
    let searched = 0;
    for (const chat of d.allowed.slice(0, 50)) {
      const found = await this.decrypt(
        caller,
        chat.id,
        await this.chats.messages(chat.id, {}, window),
      );
      if (found.failure && input.chatId) {
        await this.audit.record([
          this.row(caller, meta, chat.id, { outcome: 'denied', reason: found.failure }),
        ]);
        throw new ToolRefusal(
          'No usable grant for these messages.',
          KEY_FAILURE_HINT[found.failure],
          found.failure,
        );
      }
      searched += found.decrypted;
      rows.push(
        found.failure
          ? this.row(caller, meta, chat.id, { outcome: 'denied', reason: found.failure })
          : this.row(caller, meta, chat.id, {
              outcome: 'allowed',
              decrypted: found.decrypted > 0,
              items: found.decrypted,
            }),
      );
      for (const m of found.messages) {
        if (m.status === 'ok' && m.text?.toLocaleLowerCase().includes(needle))
          matches.push({ ...m, chatId: chat.id });
      }
    }
    await this.audit.record(rows);
    return { matches: matches.slice(-input.limit), searched };
  }

  async postMessage(
    caller: AgentCaller,
    meta: CallMeta,
    input: { chatId: string; text: string; replyTo?: string; messageId?: string },
  ): Promise<{ chatId: string; messageId: string; seq: number; epoch: number }> {
    const chat = await this.oneChat(caller, meta, input.chatId, {
      resourceType: 'chat',
      level: 'decrypt_ephemeral',
      write: true,
    });
    if (input.messageId) {
      const again = await this.alreadyPosted(caller, meta, chat.id, input.messageId);
      if (again) return again;
    }
    const ring = await this.keys.open(caller, chat.id, [chat.current_epoch]);
    const key = ring.keys.get(chat.current_epoch);
    if (!key) {
      const failure = ring.refused.get(chat.current_epoch) ?? 'no-grant';
      await this.audit.record([
        this.row(caller, meta, chat.id, { outcome: 'denied', reason: failure }),
      ]);
      throw new ToolRefusal(
        `No key for the chat's current epoch ${chat.current_epoch}.`,
        KEY_FAILURE_HINT[failure],
        failure,
      );
    }
    return this.chainLocks.run(caller.userId, caller.agentName, chat.id, () =>
      this.sealAndPost(caller, meta, chat, key, input),
    );
  }

  /** Under the chain lock: the head read here is the one the insert extends. */
  private async sealAndPost(
    caller: AgentCaller,
    meta: CallMeta,
    chat: MemberChatRow,
    key: ChatKey,
    input: { chatId: string; text: string; replyTo?: string; messageId?: string },
  ): Promise<{ chatId: string; messageId: string; seq: number; epoch: number }> {
    const id = input.messageId ?? uuidv7();
    const chainId = agentChainId(caller.userId, caller.agentName);
    const chain = await nextAgentLink(
      chainId,
      await this.chats.agentChainHead(chat.id, caller.userId, caller.agentName, chainId),
    );
    const sealed = await sealAsAgent({
      chain,
      chatKey: key,
      messageId: id,
      ownerId: caller.userId,
      agentName: caller.agentName,
      text: input.text,
      replyTo: input.replyTo ?? null,
      gateway: this.gateway,
    });
    await this.audit.record([
      this.row(caller, meta, chat.id, { outcome: 'allowed', reason: 'write', items: 1 }),
    ]);
    let posted: { id: string; seq: number };
    try {
      posted = await this.poster.postAsAgent(
        chat.id,
        caller.userId,
        caller.agentName,
        {
          id,
          epoch: chat.current_epoch,
          ciphertext: sealed.encryptedContent,
          signature: sealed.signature,
          chain,
        },
        this.gateway.ed25519.publicKey,
      );
    } catch (err) {
      // Two runs of one job raced with the same id: the loser answers with the winner's message.
      const again = input.messageId && (await this.alreadyPosted(caller, meta, chat.id, id));
      if (again) return again;
      // Someone rotated (or the owner left) between our read and the insert: nothing stored.
      if (err instanceof AppError && (err.type === 'stale-epoch' || err.type === 'not-found')) {
        throw new ToolRefusal(
          'The chat changed while posting; nothing was posted.',
          'Retry the call.',
          'stale-epoch',
        );
      }
      throw err;
    }
    return { chatId: chat.id, messageId: posted.id, seq: posted.seq, epoch: chat.current_epoch };
  }

  /**
   * The message stored under a caller-chosen id, when this agent of this owner posted it to this
   * chat (a retry): returned as the answer. Any other holder of the id is a refusal.
   */
  private async alreadyPosted(caller: AgentCaller, meta: CallMeta, chatId: string, id: string) {
    const m = await this.chats.postedById(id);
    if (!m) return undefined;
    if (
      m.chat_id !== chatId ||
      m.sender_id !== caller.userId ||
      m.sender_agent !== caller.agentName
    )
      throw new ToolRefusal(
        'Another message already has this id.',
        'Choose a new messageId.',
        'duplicate-id',
      );
    await this.audit.record([
      this.row(caller, meta, chatId, { outcome: 'allowed', reason: 'write-repeat' }),
    ]);
    return { chatId, messageId: m.id, seq: Number(m.seq), epoch: m.epoch };
  }
}
