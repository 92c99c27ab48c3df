/**
 * Each chat's signed membership log, as this device holds it: verified once (then kept in the key
 * store) and afterwards only extended — never a shorter log, another branch or a lower epoch. A
 * 409 or a `key.rotated` event only marks a chat for re-fetching.
 *
 * A device that holds nothing yet (a new one, restored from the phrase) re-derives the state from
 * every entry and checks the whole hash chain, but checks signatures only from its newest trust
 * anchor on: the account's own signed log anchor, or the entry that added it (docs/CRYPTO.md
 * "Trust anchors"). Devices publish an anchor in the background every `ANCHOR_EVERY` entries
 * they verify, never on the send path.
 */
import { base64Encode, hexDecode } from '../crypto/bytes.ts';
import { isCryptoError } from '../crypto/errors.ts';
import {
  type LogAnchorJson,
  logAnchorFromJson,
  logAnchorToJson,
  signLogAnchor,
  verifyLogAnchor,
} from '../crypto/log-anchor.ts';
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
  verifyMembershipLogAnchored,
} from '../crypto/membership.ts';
import type { ClientContext } from './context.ts';
import { VutlerClientError } from './http.ts';
import type { Json } from './keystore.ts';
import { IdentityChangedError, type TrustClient } from './trust.ts';

const LOG_PAGE = 1000;
/** A device publishes a new log anchor once it holds this many entries beyond its last one. */
export const ANCHOR_EVERY = 32;

/** How the last verification of a chat's log on this client went. */
export interface LogVerification {
  /** Entries verified in that step. */
  entries: number;
  /** Position from which signatures were checked (entries before were covered by an anchor). */
  checkedFrom: number;
  anchor: 'none' | 'own' | 'added';
}

export function clientError(code: string, message: string): VutlerClientError {
  return new VutlerClientError(code, message);
}

export class ChatLogs {
  private readonly logs = new Map<string, MembershipState>();
  private readonly syncing = new Map<string, Promise<MembershipState>>();
  private readonly stale = new Set<string>();
  private readonly verifications = new Map<string, LogVerification>();
  private readonly publishing = new Map<string, Promise<void>>();

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
    // Cold: the account's own anchor is asked for beside the log (not after it).
    const anchor = held
      ? undefined
      : this.c.http.request<{ anchor: LogAnchorJson | null }>(
          `/api/chats/${encodeURIComponent(chatId)}/anchor`,
        );
    // Withheld or failed: verify everything (an anchor only ever saves work).
    const ownAnchor = anchor?.then(
      (r) => r.anchor,
      () => null,
    );
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
    if (!held) {
      const state = await this.verifyCold(chatId, entries, (await ownAnchor) ?? null);
      await this.adopt(chatId, state);
      return state;
    }
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
    const state = await this.verify(chatId, entries, held);
    await this.adopt(chatId, state);
    return state;
  }

  /**
   * A log this device holds nothing of: every rule and hash link checked, signatures from the
   * newest anchor on. An anchor not signed by this account for this chat is refused outright, as
   * is a log whose first entries are not the ones this account anchored.
   */
  private async verifyCold(
    chatId: string,
    entries: MembershipEntry[],
    json: LogAnchorJson | null,
  ): Promise<MembershipState> {
    const me = this.c.unlocked();
    let own: { length: number; head: Uint8Array } | undefined;
    if (json !== null) {
      const badAnchor = () =>
        clientError('bad-anchor', 'The server served a log anchor you did not sign for this chat.');
      let parsed: ReturnType<typeof logAnchorFromJson>;
      try {
        parsed = logAnchorFromJson(chatId, me.id, json);
      } catch {
        throw badAnchor();
      }
      if (!(await verifyLogAnchor(parsed, me.identityPublic.ed25519PublicKey))) throw badAnchor();
      own = { length: parsed.length, head: parsed.head };
    }
    const self = await this.trust.identityOf(me.id);
    let result: Awaited<ReturnType<typeof verifyMembershipLogAnchored>>;
    try {
      result = await verifyMembershipLogAnchored(entries, {
        chatId,
        keyOf: this.keyOf,
        trustedPrefix: own,
        self: { userId: me.id, fingerprint: hexDecode(self.digest) },
      });
    } catch (err) {
      if (own && isCryptoError(err, 'bad_anchor')) {
        throw entries.length < own.length
          ? clientError(
              'log-rollback',
              `The server's membership log has ${entries.length} entries; you had verified ${own.length}.`,
            )
          : clientError('log-forked', 'The membership log is not the one you verified before.');
      }
      throw this.mapError(err);
    }
    // Actors vouched for by the anchor were not looked up: they must still match this device's pins.
    const device = this.c.device();
    for (const [userId, digest] of result.vouchedActors) {
      const pin = await device.pin(userId);
      if (pin && pin.fingerprint !== digest)
        throw new IdentityChangedError(userId, pin.fingerprint, digest);
    }
    const { checkedFrom } = result;
    this.verifications.set(chatId, {
      entries: entries.length,
      checkedFrom,
      anchor: checkedFrom === 0 ? 'none' : own && checkedFrom === own.length ? 'own' : 'added',
    });
    if (own && own.length > (await device.anchored(chatId)))
      await device.setAnchored(chatId, own.length);
    return result.state;
  }

  /** How the last verification of this chat on this client went (tests, diagnostics). */
  verification(chatId: string): LogVerification | undefined {
    return this.verifications.get(chatId);
  }

  /**
   * Publishes this account's anchor for the state held now: a signed statement that its client
   * verified the log up to here, from which its next new device starts checking signatures.
   */
  async publishAnchor(chatId: string): Promise<void> {
    const state = await this.membership(chatId);
    const me = this.c.unlocked();
    const anchor = await signLogAnchor(
      { chatId, userId: me.id, length: state.length, head: state.head },
      me.identity.ed25519.privateKey,
    );
    await this.c.http.request(`/api/chats/${encodeURIComponent(chatId)}/anchor`, {
      method: 'PUT',
      body: logAnchorToJson(anchor),
    });
    const device = this.c.device();
    if (state.length > (await device.anchored(chatId)))
      await device.setAnchored(chatId, state.length);
  }

  /** Resolves once the anchors being published in the background are done (or failed). */
  async anchorsSettled(): Promise<void> {
    await Promise.all([...this.publishing.values()]);
  }

  private readonly keyOf = async (userId: string, fp: string) =>
    (await this.trust.identityOf(userId, fp)).identity.ed25519PublicKey;

  private mapError(err: unknown): unknown {
    if (err instanceof VutlerClientError) return err;
    if (isCryptoError(err)) {
      return clientError('bad-log', `The chat's membership log does not verify: ${err.message}`);
    }
    return err;
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
      const state = await verifyMembershipLog(entries, { chatId, from, keyOf: this.keyOf });
      this.verifications.set(chatId, { entries: entries.length, checkedFrom: 0, anchor: 'none' });
      return state;
    } catch (err) {
      throw this.mapError(err);
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
    if (state.length - (await device.anchored(chatId)) >= ANCHOR_EVERY) this.anchorSoon(chatId);
  }

  /** In the background, so no caller (least of all a send) waits for it; a failure is retried later. */
  private anchorSoon(chatId: string): void {
    if (this.publishing.has(chatId)) return;
    const p = this.publishAnchor(chatId)
      .catch(() => undefined)
      .finally(() => this.publishing.delete(chatId));
    this.publishing.set(chatId, p);
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
