/**
 * Each chat's signed membership log, as this device holds it: verified from entry 0 once (then
 * kept in the key store) and afterwards only extended — never a shorter log, another branch or a
 * lower epoch. A 409 or a `key.rotated` event only marks a chat for re-fetching.
 */
import { base64Encode } from '../crypto/bytes.ts';
import { isCryptoError } from '../crypto/errors.ts';
import {
  type MembershipEntry,
  type MembershipEntryJson,
  type MembershipState,
  type MembershipStateJson,
  membershipEntryFromJson,
  membershipEntryHash,
  membershipStateFromJson,
  membershipStateToJson,
  signMembershipEntry,
  type UnsignedMembershipEntry,
  verifyMembershipLog,
} from '../crypto/membership.ts';
import type { ClientContext } from './context.ts';
import { VutlerClientError } from './http.ts';
import type { Json } from './keystore.ts';
import type { TrustClient } from './trust.ts';

const LOG_PAGE = 1000;

export function clientError(code: string, message: string): VutlerClientError {
  return new VutlerClientError(code, message);
}

export class ChatLogs {
  private readonly logs = new Map<string, MembershipState>();
  private readonly syncing = new Map<string, Promise<MembershipState>>();
  private readonly stale = new Set<string>();

  constructor(
    private readonly c: ClientContext,
    private readonly trust: TrustClient,
  ) {}

  /** A `key.rotated` event or a 409: re-fetch and verify the log before the next use. */
  hint(chatId: string): void {
    this.stale.add(chatId);
  }

  /** The verified membership state of a chat (fetching and verifying the log if needed). */
  async membership(chatId: string): Promise<MembershipState> {
    const held = this.logs.get(chatId);
    if (held && !this.stale.has(chatId)) return held;
    return this.sync(chatId);
  }

  /** Fetches what is new in the log, verifies it onto what this device holds, persists the head. */
  sync(chatId: string): Promise<MembershipState> {
    let p = this.syncing.get(chatId);
    if (!p) {
      p = this.doSync(chatId).finally(() => this.syncing.delete(chatId));
      this.syncing.set(chatId, p);
    }
    return p;
  }

  private async doSync(chatId: string): Promise<MembershipState> {
    this.stale.delete(chatId);
    const held = this.logs.get(chatId) ?? (await this.persisted(chatId));
    const entries: MembershipEntry[] = [];
    // From the last entry held (re-fetched, so a log cut below it is noticed) onwards.
    for (let after = held ? held.length - 2 : -1; ; ) {
      const res = await this.c.http.request<{ entries: MembershipEntryJson[] }>(
        `/api/chats/${encodeURIComponent(chatId)}/log`,
        { query: { after: String(after) } },
      );
      for (const j of res.entries) entries.push(membershipEntryFromJson(chatId, j));
      if (res.entries.length < LOG_PAGE) break;
      after = entries.at(-1)!.position;
    }
    if (held) {
      const last = entries.shift();
      if (!last || last.position !== held.length - 1) {
        throw clientError(
          'log-rollback',
          `The server's membership log no longer has the ${held.length} entries this device verified.`,
        );
      }
      if (base64Encode(await membershipEntryHash(last)) !== base64Encode(held.head)) {
        throw clientError(
          'log-forked',
          'The membership log does not extend the one this device holds.',
        );
      }
      if (entries.length === 0) {
        this.logs.set(chatId, held);
        return held;
      }
    }
    const state = await this.verify(chatId, entries, held);
    await this.adopt(chatId, state);
    return state;
  }

  /** The state this device verified before (a log is verified from entry 0 once, then extended). */
  private async persisted(chatId: string): Promise<MembershipState | undefined> {
    const device = this.c.device();
    const [json, head] = await Promise.all([device.logState(chatId), device.chatHead(chatId)]);
    if (!json || !head) return undefined;
    const state = membershipStateFromJson(json as unknown as MembershipStateJson);
    // The state must be the one the head names; anything else is discarded and re-verified.
    if (
      state.chatId !== chatId ||
      state.length !== head.length ||
      base64Encode(state.head) !== head.head
    )
      return undefined;
    return state;
  }

  async verify(
    chatId: string,
    entries: MembershipEntry[],
    from?: MembershipState,
  ): Promise<MembershipState> {
    try {
      return await verifyMembershipLog(entries, {
        chatId,
        from,
        keyOf: async (userId, fp) =>
          (await this.trust.identityOf(userId, fp)).identity.ed25519PublicKey,
      });
    } catch (err) {
      if (err instanceof VutlerClientError) throw err;
      if (isCryptoError(err)) {
        throw clientError('bad-log', `The chat's membership log does not verify: ${err.message}`);
      }
      throw err;
    }
  }

  /** Never moves to a lower epoch nor to a log that does not extend the head this device holds. */
  async adopt(chatId: string, state: MembershipState): Promise<void> {
    const device = this.c.device();
    const head = await device.chatHead(chatId);
    if (head) {
      if (state.length < head.length) {
        throw clientError(
          'log-rollback',
          `The server's membership log has ${state.length} entries; this device has verified ${head.length}.`,
        );
      }
      const at = state.hashes[head.length - 1];
      if (!at || base64Encode(at) !== head.head) {
        throw clientError(
          'log-forked',
          'The membership log does not extend the one this device holds.',
        );
      }
      if (state.epoch < head.epoch) {
        throw clientError(
          'epoch-rollback',
          `Epoch ${state.epoch} is below ${head.epoch}, already seen.`,
        );
      }
    }
    const me = this.c.unlocked().id;
    if (!state.members.has(me) && !state.fingerprints.has(me)) {
      throw clientError('bad-log', 'The membership log never names you.');
    }
    this.logs.set(chatId, state);
    await device.setLogState(chatId, membershipStateToJson(state) as unknown as Json);
    await device.setChatHead(chatId, {
      epoch: state.epoch,
      length: state.length,
      head: base64Encode(state.head),
    });
  }

  /** Signs entries continuing `state` (positions and hashes chained here). */
  async signEntries(
    state: { chatId: string; length: number; head: Uint8Array },
    parts: Omit<UnsignedMembershipEntry, 'chatId' | 'position' | 'prevHash' | 'actorId'>[],
  ): Promise<MembershipEntry[]> {
    const me = this.c.unlocked();
    const out: MembershipEntry[] = [];
    let prev = state.head;
    for (const [i, p] of parts.entries()) {
      const e = await signMembershipEntry(
        { ...p, chatId: state.chatId, position: state.length + i, prevHash: prev, actorId: me.id },
        me.identity.ed25519.privateKey,
      );
      prev = await membershipEntryHash(e);
      out.push(e);
    }
    return out;
  }
}
