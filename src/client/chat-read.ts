/**
 * Opening messages: each must be signed by a member of its epoch (per the verified log, with
 * the logged key) and, once its cryptography holds, is placed in its sender's chain to report
 * gaps, reorders, replays and forks. Never throws for a bad message: it reports it.
 */
import { base64Decode } from '../crypto/bytes.ts';
import type { ChatKey } from '../crypto/chatkeys.ts';
import { heldEpoch, type MembershipState } from '../crypto/membership.ts';
import {
  type AgentPolicy,
  CHAIN_ID_BYTES,
  type ChainLink,
  MESSAGE_HASH_BYTES,
  messageHash,
  openMessage,
  type SenderDescriptor,
  verifyTombstone,
} from '../crypto/messages.ts';
import type { MessageView } from '../wire/chat.ts';
import type { ChatLogs } from './chatlog.ts';
import type { ClientContext } from './context.ts';
import { VutlerClientError } from './http.ts';
import { SequenceTracker } from './sequence.ts';
import type { TrustClient } from './trust.ts';
import type { ChatMessage } from './types.ts';

/** A message after its cryptographic checks, before its chain position is judged. */
interface Verified {
  msg: ChatMessage;
  link?: { senderId: string; chain: ChainLink; hash: Uint8Array };
}

function policyOf(v: Record<string, unknown>): AgentPolicy {
  // Anything else than the two values is passed through so the signature check fails on it.
  return v.agents === undefined ? {} : ({ agents: v.agents } as AgentPolicy);
}

export class MessageReader {
  private readonly sequences = new Map<string, SequenceTracker>();

  constructor(
    private readonly c: ClientContext,
    private readonly trust: TrustClient,
    private readonly logs: ChatLogs,
    private readonly keyOf: (chatId: string, epoch: number) => Promise<ChatKey>,
  ) {}

  private tracker(chatId: string): Promise<SequenceTracker> {
    const t = this.sequences.get(chatId);
    if (t) return Promise.resolve(t);
    return this.c
      .device()
      .seen(chatId)
      .then((seen) => {
        const existing = this.sequences.get(chatId);
        if (existing) return existing;
        const made = new SequenceTracker(seen);
        this.sequences.set(chatId, made);
        return made;
      });
  }

  private async persistSequence(chatId: string): Promise<void> {
    const t = this.sequences.get(chatId);
    if (t?.dirty) {
      t.dirty = false;
      await this.c.device().setSeen(chatId, t.snapshot());
    }
  }

  /** Decrypts and verifies one stored message; never throws for a bad message, it reports it. */
  async open(view: MessageView): Promise<ChatMessage> {
    const msg = this.place(await this.verifyOne(view));
    await this.persistSequence(view.chatId);
    return msg;
  }

  /** The chain check, in seq order, after the (concurrent) cryptographic checks. */
  private place(v: Verified): ChatMessage {
    if (!v.link) return v.msg;
    const tracker = this.sequences.get(v.msg.chatId)!;
    return { ...v.msg, ...tracker.place(v.link.senderId, v.msg, v.link.chain, v.link.hash) };
  }

  /**
   * The gateway's Ed25519 key as pinned in this device's key store (slot `gatewayKeys`,
   * `{ ed25519: base64 }`, filled by the agents/gateway flow) — never taken from the server here.
   */
  private async gatewayKey(): Promise<Uint8Array> {
    const pinned = (await this.c.device().gatewayKeys()) as { ed25519?: unknown } | undefined;
    if (typeof pinned?.ed25519 !== 'string') {
      throw new VutlerClientError(
        'no-gateway-key',
        'No pinned gateway key to check agent messages.',
      );
    }
    return base64Decode(pinned.ed25519, 32);
  }

  private async verifyOne(view: MessageView): Promise<Verified> {
    const bare = (msg: ChatMessage): Verified => ({ msg });
    const base = {
      id: view.id,
      chatId: view.chatId,
      seq: view.seq,
      senderId: view.senderId,
      senderAgent: view.senderAgent,
      epoch: view.epoch,
      createdAt: view.createdAt,
      mentions: view.mentions,
      decryptionPermissions: policyOf(view.decryptionPermissions),
    };
    if (!view.senderId) return bare({ ...base, status: 'rejected', reason: 'no sender' });
    if (!view.chain || !view.signature) {
      return bare({ ...base, status: 'tampered', reason: 'the message has no signature or chain' });
    }
    const senderId = view.senderId;
    let state: MembershipState;
    try {
      state = await this.logs.membership(view.chatId);
      if (!state.epochs.has(view.epoch)) state = await this.logs.sync(view.chatId);
    } catch (err) {
      return bare({ ...base, status: 'rejected', reason: (err as Error).message });
    }
    const info = state.epochs.get(view.epoch);
    if (!info)
      return bare({ ...base, status: 'rejected', reason: 'epoch not in the membership log' });
    // Someone may have been added since this device last looked: ask the log once more.
    if (!heldEpoch(state, senderId, view.epoch)) {
      state = await this.logs.sync(view.chatId).catch(() => state);
    }
    if (!heldEpoch(state, senderId, view.epoch)) {
      return bare({
        ...base,
        status: 'rejected',
        reason: 'the sender was not a member of that epoch',
      });
    }
    const chain = {
      chainId: base64Decode(view.chain.id, CHAIN_ID_BYTES),
      counter: view.chain.counter,
      prev: base64Decode(view.chain.prev, MESSAGE_HASH_BYTES),
    };
    await this.tracker(view.chatId);
    // An agent's message is signed by the gateway on the user's behalf (senderId = that user).
    const descriptor: SenderDescriptor = view.senderAgent
      ? { kind: 'agent', agentName: view.senderAgent, onBehalfOf: senderId }
      : { kind: 'user', userId: senderId };
    const chainOwner = view.senderAgent ? `${senderId}/agent:${view.senderAgent}` : senderId;
    let signerKey: Uint8Array;
    try {
      signerKey = view.senderAgent
        ? await this.gatewayKey()
        : (await this.trust.identityOf(senderId, state.fingerprints.get(senderId))).identity
            .ed25519PublicKey;
    } catch (err) {
      return bare({ ...base, status: 'rejected', reason: (err as Error).message });
    }
    const signature = base64Decode(view.signature);
    if (view.ciphertext === null) {
      const hash = await messageHash(signature).catch(() => undefined);
      const ok =
        hash !== undefined &&
        view.tombstone !== null &&
        (await verifyTombstone(
          {
            chatId: view.chatId,
            messageId: view.id,
            sender: descriptor,
            chainId: chain.chainId,
            counter: chain.counter,
            hash,
          },
          base64Decode(view.tombstone),
          signerKey,
        ).catch(() => false));
      if (!ok || !hash) {
        return bare({
          ...base,
          status: 'tampered',
          reason: 'the content is gone without a deletion signed by its sender',
        });
      }
      return { msg: { ...base, status: 'deleted' }, link: { senderId: chainOwner, chain, hash } };
    }
    let key: ChatKey;
    try {
      key = await this.keyOf(view.chatId, view.epoch);
    } catch (err) {
      if (err instanceof VutlerClientError && err.code === 'no-key')
        return bare({ ...base, status: 'no-key', reason: err.message });
      return bare({ ...base, status: 'rejected', reason: (err as Error).message });
    }
    try {
      const opened = await openMessage({
        chatKey: key,
        header: {
          messageId: view.id,
          sender: descriptor,
          chain,
          mentions: view.mentions,
          decryptionPermissions: policyOf(view.decryptionPermissions),
        },
        encryptedContent: base64Decode(view.ciphertext),
        signature,
        signerEd25519PublicKey: signerKey,
      });
      return {
        msg: { ...base, status: 'ok', body: opened.body },
        link: { senderId: chainOwner, chain, hash: opened.hash },
      };
    } catch (err) {
      return bare({ ...base, status: 'rejected', reason: (err as Error).message });
    }
  }

  async history(
    chatId: string,
    cursor: { before?: number; after?: number; limit?: number } = {},
  ): Promise<ChatMessage[]> {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(cursor)) if (v !== undefined) query[k] = String(v);
    // The log (on a cold device: fetched and verified) beside the page, not after it. A failure
    // is judged per message below.
    const membership = this.logs.membership(chatId).catch(() => undefined);
    const res = await this.c.http.request<{ messages: MessageView[] }>(
      `/api/chats/${encodeURIComponent(chatId)}/messages`,
      { query },
    );
    // In seq order, one at a time: the chain check depends on what came before.
    const out: ChatMessage[] = [];
    await membership;
    const keyEpochs = new Set(res.messages.map((m) => m.epoch));
    await Promise.all([...keyEpochs].map((e) => this.keyOf(chatId, e).catch(() => undefined)));
    const verified = await Promise.all(res.messages.map((m) => this.verifyOne(m)));
    for (const v of verified) out.push(this.place(v));
    await this.persistSequence(chatId);
    return out;
  }
}
