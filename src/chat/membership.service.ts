import { type AccessService, NoAccessError } from '../access/index.ts';
import { base64Encode } from '../crypto/bytes.ts';
import { verifyChatKeyWrapSignature } from '../crypto/chatkeys.ts';
import { isCryptoError } from '../crypto/errors.ts';
import {
  applyMembershipEntry,
  emptyMembershipState,
  type MembershipEntry,
  type MembershipState,
  membershipEntryHash,
  verifyMembershipLog,
} from '../crypto/membership.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import type { ChatView, KeyWrapView, MembershipEntryJson } from '../wire/chat.ts';
import { ChatRepository, type ChatRow, type StoredLogEntry } from './chat.repository.ts';
import {
  BadLogEntryError,
  BadSignatureError,
  chatView,
  type KnownIdentity,
  knownIdentity,
  logEntryOfRow,
  logView,
  StaleEpochError,
  StaleLogError,
} from './chat.views.ts';
import type { ChatEvents } from './events.ts';

export interface KeyWrapInput {
  userId: string;
  wrap: Uint8Array;
}

const MAX_GROUP_MEMBERS = 500;
/** Longest log a chat may have; far above any real membership history. */
const MAX_LOG_ENTRIES = 100_000;
export const LOG_PAGE = 1000;

/**
 * Chats, members, epochs and the signed membership log. The server never sees a chat key: it
 * stores wraps and log entries, verifies both (signatures against registered keys, the log's
 * rules, wraps against the epoch's key commitment) and keeps `chat_members` and
 * `chats.current_epoch` in step with the log. Clients verify the log themselves, so this is
 * hygiene, not the trust anchor.
 */
export class MembershipService {
  private readonly repo: ChatRepository;

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

  private async identities(
    repo: ChatRepository,
    ids: string[],
  ): Promise<Map<string, KnownIdentity>> {
    const rows = await repo.signers([...new Set(ids)]);
    const out = new Map<string, KnownIdentity>();
    for (const r of rows) if (r.identity_signing_key) out.set(r.id, await knownIdentity(r));
    return out;
  }

  /** The stored log replayed (rules only: every stored entry was verified when it was stored). */
  private async replay(repo: ChatRepository, chatId: string): Promise<MembershipState> {
    const state = emptyMembershipState(chatId);
    const rows = await repo.logAfter(chatId, -1, MAX_LOG_ENTRIES);
    for (const r of rows) applyMembershipEntry(state, logEntryOfRow(chatId, r), r.entry_hash);
    return state;
  }

  /**
   * Verifies `entries` as the continuation of `from`, made by `actorId`, against the keys the
   * server has registered. Returns the new state and the entries with their hashes.
   */
  private async extend(
    repo: ChatRepository,
    from: MembershipState,
    actorId: string,
    entries: MembershipEntry[],
  ): Promise<{ state: MembershipState; stored: StoredLogEntry[] }> {
    if (entries.length === 0) throw new BadRequestError('No log entries.');
    if (entries[0]!.position !== from.length) throw new StaleLogError(from.length);
    if (entries.some((e) => e.actorId !== actorId))
      throw new BadLogEntryError('Every entry must be made and signed by you.');
    const known = await this.identities(repo, [actorId, ...entries.map((e) => e.subjectId)]);
    for (const e of entries) {
      const subject = known.get(e.subjectId);
      if (!subject) throw new NotFoundError('No such user, or not ready for encrypted chat.');
      if (Buffer.from(e.subjectFingerprint).toString('hex') !== subject.fingerprint) {
        throw new BadLogEntryError(`Entry ${e.position} names a key ${e.subjectId} does not have.`);
      }
    }
    let state: MembershipState;
    try {
      state = await verifyMembershipLog(entries, {
        chatId: from.chatId,
        from,
        keyOf: async (userId, fp) => {
          const k = known.get(userId);
          if (!k || k.fingerprint !== fp) throw new BadLogEntryError(`Unknown key for ${userId}.`);
          return k.signingKey;
        },
      });
    } catch (err) {
      if (isCryptoError(err, 'bad_signature')) throw new BadSignatureError(err.message);
      if (isCryptoError(err)) throw new BadLogEntryError(err.message);
      throw err;
    }
    const hashes = await Promise.all(entries.map(membershipEntryHash));
    return { state, stored: entries.map((entry, i) => ({ entry, hash: hashes[i]! })) };
  }

  /** Every wrap must be signed by `wrapperId` for its chat, epoch, member and key commitment. */
  private async checkWraps(
    chatId: string,
    wrapper: KnownIdentity,
    wrapperId: string,
    state: MembershipState,
    wraps: { userId: string; epoch: number; wrap: Uint8Array }[],
  ): Promise<void> {
    for (const w of wraps) {
      const commitment = state.epochs.get(w.epoch)?.commitment;
      if (!commitment)
        throw new BadRequestError(`A wrap names epoch ${w.epoch}, which the log lacks.`);
      let ok = false;
      try {
        ok = await verifyChatKeyWrapSignature({
          chatId,
          epoch: w.epoch,
          memberId: w.userId,
          wrapperId,
          wrapperEd25519PublicKey: wrapper.signingKey,
          envelope: w.wrap,
          commitment,
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
  private static exactlyFor(wraps: KeyWrapInput[], expected: Iterable<string>): void {
    const got = new Set(wraps.map((w) => w.userId));
    if (got.size !== wraps.length) throw new BadRequestError('Two key wraps name the same member.');
    const want = new Set(expected);
    const missing = [...want].filter((id) => !got.has(id));
    const extra = [...got].filter((id) => !want.has(id));
    if (missing.length || extra.length) {
      throw new BadRequestError(
        `keyWraps must cover exactly the members (missing ${missing.length}, unexpected ${extra.length}).`,
      );
    }
  }

  /** Writes what a verified batch of entries changed into chat_members / chat_epochs / chats. */
  private async mirror(repo: ChatRepository, chatId: string, stored: StoredLogEntry[]) {
    for (const { entry: e } of stored) {
      if (e.action === 'create' || e.action === 'rotate') {
        await repo.insertEpoch(chatId, e.epoch, e.actorId, e.keyCommitment!);
        if (e.action === 'rotate') await repo.setEpoch(chatId, e.epoch);
      } else if (e.action === 'add') {
        await repo.insertMembers(chatId, [e.subjectId], e.actorId, e.epoch);
        if (e.role !== 'member') await repo.setRole(chatId, e.subjectId, e.role);
      } else if (e.action === 'remove') {
        await repo.removeMembers(chatId, [e.subjectId]);
      }
    }
    await repo.insertLog(chatId, stored);
  }

  async create(
    creatorId: string,
    input: {
      id: string;
      kind: 'direct' | 'group';
      titleEncrypted: Uint8Array | null;
      keyWraps: KeyWrapInput[];
      log: MembershipEntry[];
    },
  ): Promise<ChatView> {
    if (input.log.length > MAX_GROUP_MEMBERS)
      throw new BadRequestError(`At most ${MAX_GROUP_MEMBERS} members.`);
    const { state, stored } = await this.extend(
      this.repo,
      emptyMembershipState(input.id),
      creatorId,
      input.log,
    );
    if (state.epoch !== 0 || state.pendingRotation)
      throw new BadLogEntryError('A new chat is created and members are added, nothing else.');
    if (input.kind === 'direct' && state.members.size !== 2) {
      throw new BadRequestError('A direct chat has exactly one other member.');
    }
    const all = [...state.members.keys()];
    MembershipService.exactlyFor(input.keyWraps, all);
    const creator = (await this.identities(this.repo, [creatorId])).get(creatorId)!;
    const wraps = input.keyWraps.map((w) => ({ ...w, epoch: 0 }));
    await this.checkWraps(input.id, creator, creatorId, state, wraps);
    await withTransaction(this.pool, async (client) => {
      const repo = new ChatRepository(client);
      if (!(await repo.insertChat(input.id, input.kind, input.titleEncrypted, creatorId))) {
        // Same answer whether the id is someone else's chat or lost a race: no existence oracle.
        throw new ConflictError('conflict', 'The chat could not be created; retry with a new id.');
      }
      await repo.insertMembers(input.id, [creatorId], creatorId, 0);
      await this.mirror(repo, input.id, stored);
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

  /** Log entries after `after` (-1: from the start), for members. */
  async log(chatId: string, userId: string, after: number): Promise<MembershipEntryJson[]> {
    await this.access.requireChatMember(userId, chatId);
    return logView(chatId, await this.repo.logAfter(chatId, after, LOG_PAGE));
  }

  /**
   * An existing member adds someone with a signed `add` entry, handing them the keys of the
   * epochs it chooses (at least the current one).
   */
  async addMember(
    chatId: string,
    actorId: string,
    input: { entry: MembershipEntry; keyWraps: { epoch: number; wrap: Uint8Array }[] },
  ) {
    const chat = await this.requireMember(chatId, actorId);
    if (chat.kind === 'direct')
      throw new BadRequestError('Members cannot be added to a direct chat.');
    const userId = input.entry.subjectId;
    if (input.entry.action !== 'add') throw new BadLogEntryError('Expected an add entry.');
    if (new Set(input.keyWraps.map((w) => w.epoch)).size !== input.keyWraps.length)
      throw new BadRequestError('Two wraps for one epoch.');
    const { epoch, lastSeq } = await withTransaction(this.pool, async (client) => {
      const repo = new ChatRepository(client);
      const locked = (await repo.lockChat(chatId))!;
      const before = await this.replay(repo, chatId);
      if (before.members.has(userId))
        throw new ConflictError('already-member', 'Already a member.');
      if (before.members.size >= MAX_GROUP_MEMBERS)
        throw new BadRequestError(`At most ${MAX_GROUP_MEMBERS} members.`);
      const { state, stored } = await this.extend(repo, before, actorId, [input.entry]);
      if (!input.keyWraps.some((w) => w.epoch === state.epoch))
        throw new StaleEpochError(state.epoch);
      const wraps = input.keyWraps.map((w) => ({ ...w, userId }));
      const actor = (await this.identities(repo, [actorId])).get(actorId)!;
      await this.checkWraps(chatId, actor, actorId, state, wraps);
      await this.mirror(repo, chatId, stored);
      await repo.insertWraps(chatId, actorId, wraps);
      return { epoch: state.epoch, lastSeq: Number(locked.last_seq) };
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
   * Signed `remove` entries (maybe none) then one `rotate`: epoch `current + 1` with a fresh key
   * wrapped to the remaining members, in one transaction, so a removed member never gets the
   * new key. Messages on the old epoch are refused from then on.
   */
  async rotate(
    chatId: string,
    actorId: string,
    input: { keyWraps: KeyWrapInput[]; entries: MembershipEntry[] },
  ) {
    const chat = await this.requireMember(chatId, actorId);
    const last = input.entries.at(-1);
    if (last?.action !== 'rotate' || input.entries.slice(0, -1).some((e) => e.action !== 'remove'))
      throw new BadLogEntryError('Send remove entries (if any) followed by one rotate entry.');
    if (chat.kind === 'direct' && input.entries.length > 1)
      throw new BadRequestError('Members cannot be removed from a direct chat.');
    const { epoch, removed } = await withTransaction(this.pool, async (client) => {
      const repo = new ChatRepository(client);
      const locked = (await repo.lockChat(chatId))!;
      const before = await this.replay(repo, chatId);
      if (last.epoch !== locked.current_epoch + 1) throw new StaleEpochError(locked.current_epoch);
      const { state, stored } = await this.extend(repo, before, actorId, input.entries);
      MembershipService.exactlyFor(input.keyWraps, state.members.keys());
      const wraps = input.keyWraps.map((w) => ({ ...w, epoch: state.epoch }));
      const actor = (await this.identities(repo, [actorId])).get(actorId)!;
      await this.checkWraps(chatId, actor, actorId, state, wraps);
      await this.mirror(repo, chatId, stored);
      await repo.insertWraps(chatId, actorId, wraps);
      return {
        epoch: state.epoch,
        removed: input.entries.slice(0, -1).map((e) => e.subjectId),
      };
    });
    await this.events.publish({ type: 'key.rotated', chatId, epoch, by: actorId });
    for (const userId of removed) {
      await this.events.publish({
        type: 'member.changed',
        chatId,
        userId,
        change: 'removed',
        by: actorId,
        epoch,
        lastSeq: 0,
      });
    }
    return this.get(chatId, actorId);
  }

  /** The caller's wraps for every epoch it was given; the client verifies each against the log. */
  async myKeys(chatId: string, userId: string): Promise<KeyWrapView[]> {
    await this.access.requireChatMember(userId, chatId);
    return (await this.repo.wrapsFor(chatId, userId)).map((w) => ({
      epoch: w.epoch,
      wrap: base64Encode(w.encrypted_key),
      wrappedBy: w.wrapped_by,
    }));
  }
}
