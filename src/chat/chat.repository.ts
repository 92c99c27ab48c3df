import type { IdentityPublicJson } from '../crypto/identity.ts';
import type { MembershipEntry } from '../crypto/membership.ts';
import type { Queryable } from '../db/pool.ts';

export interface ChatRow {
  id: string;
  kind: 'direct' | 'group';
  title_encrypted: Buffer | null;
  created_by: string;
  current_epoch: number;
  last_seq: string;
  log_length: number;
  created_at: Date;
}

export interface MemberRow {
  user_id: string;
  role: 'owner' | 'admin' | 'member';
  joined_epoch: number;
  joined_at: Date;
  removed_at: Date | null;
}

export interface MessageRow {
  id: string;
  chat_id: string;
  sender_id: string | null;
  sender_agent: string | null;
  seq: string;
  epoch: number;
  encrypted_content: Buffer | null;
  signature: Buffer | null;
  chain_id: Buffer | null;
  chain_counter: string | null;
  chain_prev: Buffer | null;
  tombstone: Buffer | null;
  mentions: string[];
  decryption_permissions: Record<string, unknown>;
  created_at: Date;
  deleted_at: Date | null;
}

export interface WrapRow {
  epoch: number;
  encrypted_key: Buffer;
  wrapped_by: string;
}

export interface SignerRow {
  id: string;
  identity_signing_key: Buffer | null;
  identity_public: IdentityPublicJson | null;
}

export interface LogRow {
  position: number;
  epoch: number;
  action: string;
  actor_id: string;
  subject_id: string;
  subject_fingerprint: Buffer;
  role: string;
  prev_hash: Buffer;
  key_commitment: Buffer | null;
  signature: Buffer;
  entry_hash: Buffer;
}

export interface StoredLogEntry {
  entry: MembershipEntry;
  hash: Uint8Array;
}

const MESSAGE_COLUMNS = `id, chat_id, sender_id, sender_agent, seq, epoch, encrypted_content, signature,
  chain_id, chain_counter, chain_prev, tombstone, mentions,
  COALESCE(decryption_permissions, '{}'::jsonb) AS decryption_permissions, created_at, deleted_at`;

const CHAT_COLUMNS = `c.id, c.kind, c.title_encrypted, c.created_by, c.current_epoch, c.last_seq, c.created_at,
  (SELECT count(*)::int FROM chat_log l WHERE l.chat_id = c.id) AS log_length`;

const LOG_COLUMNS = `position, epoch, action, actor_id, subject_id, subject_fingerprint, role, prev_hash,
  key_commitment, signature, entry_hash`;

const SQL = {
  insertChat: `INSERT INTO chats (id, kind, title_encrypted, created_by) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO NOTHING RETURNING id`,
  insertMembers: `INSERT INTO chat_members (chat_id, user_id, role, joined_epoch)
    SELECT $1, u, CASE WHEN u = $3 THEN 'owner' ELSE 'member' END, $4 FROM unnest($2::uuid[]) AS u
    ON CONFLICT (chat_id, user_id) DO UPDATE SET removed_at = NULL, joined_epoch = EXCLUDED.joined_epoch,
      joined_at = now(), role = 'member'`,
  insertEpoch: `INSERT INTO chat_epochs (chat_id, epoch, created_by, key_commitment) VALUES ($1, $2, $3, $4) RETURNING id`,
  insertLog: `INSERT INTO chat_log (chat_id, position, epoch, action, actor_id, subject_id, subject_fingerprint,
      role, prev_hash, key_commitment, signature, entry_hash)
    SELECT $1, e.position, e.epoch, e.action, e.actor_id, e.subject_id, e.fp, e.role, e.prev, e.commitment, e.sig, e.hash
    FROM unnest($2::int[], $3::int[], $4::text[], $5::uuid[], $6::text[], $7::bytea[], $8::text[], $9::bytea[],
      $10::bytea[], $11::bytea[], $12::bytea[])
      AS e(position, epoch, action, actor_id, subject_id, fp, role, prev, commitment, sig, hash)`,
  logAfter: `SELECT ${LOG_COLUMNS} FROM chat_log WHERE chat_id = $1 AND position > $2 ORDER BY position LIMIT $3`,
  setRole: `UPDATE chat_members SET role = $3 WHERE chat_id = $1 AND user_id = $2`,
  insertWraps: `INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params, chat_id, epoch, wrapped_by)
    SELECT w.user_id, 'session', w.wrap, jsonb_build_object('v', 1), $1, w.epoch, $2
    FROM unnest($3::uuid[], $4::int[], $5::bytea[]) AS w(user_id, epoch, wrap)
    ON CONFLICT (chat_id, epoch, user_id) WHERE key_type = 'session' DO NOTHING`,
  signers: `SELECT id, identity_signing_key, identity_public FROM users WHERE id = ANY($1::uuid[]) AND COALESCE(encryption_enabled, false)`,
  chatsOfUser: `SELECT ${CHAT_COLUMNS}
    FROM chats c JOIN chat_members m ON m.chat_id = c.id
    WHERE m.user_id = $1 AND m.removed_at IS NULL ORDER BY c.created_at DESC LIMIT 1000`,
  chatForMember: `SELECT ${CHAT_COLUMNS}
    FROM chats c JOIN chat_members m ON m.chat_id = c.id
    WHERE c.id = $1 AND m.user_id = $2 AND m.removed_at IS NULL`,
  lockChat: `SELECT ${CHAT_COLUMNS} FROM chats c WHERE c.id = $1 FOR UPDATE OF c`,
  activeMembers: `SELECT user_id, role, joined_epoch, joined_at, removed_at FROM chat_members
    WHERE chat_id = $1 AND removed_at IS NULL ORDER BY joined_at, user_id`,
  allMembers: `SELECT user_id, role, joined_epoch, joined_at, removed_at FROM chat_members
    WHERE chat_id = $1 ORDER BY joined_at, user_id`,
  membersOfChats: `SELECT chat_id, user_id, role, joined_epoch, joined_at, removed_at FROM chat_members
    WHERE chat_id = ANY($1::uuid[]) ORDER BY joined_at, user_id`,
  removeMembers: `UPDATE chat_members SET removed_at = now() WHERE chat_id = $1 AND user_id = ANY($2::uuid[]) AND removed_at IS NULL`,
  setEpoch: `UPDATE chats SET current_epoch = $2, updated_at = now() WHERE id = $1`,
  messageById: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`,
  epochCommitments: `SELECT epoch, key_commitment FROM chat_epochs WHERE chat_id = $1 AND epoch = ANY($2::int[])`,
  // One statement, so one round trip and the chat row is locked only while it runs. The UPDATE
  // takes the chat row lock and hands out the next seq only if the sender is still a member, the
  // epoch is current and the id is new; commit order therefore equals seq order within a chat.
  // Mentions become outbox rows in the same statement (same transaction). No row back means
  // one of the conditions failed: the caller finds out which. A concurrent retry of the same id
  // passes NOT EXISTS (same snapshot) but then hits the primary key: that must abort the whole
  // statement, bump included (no ON CONFLICT DO NOTHING here), or it would burn a seq and leave
  // a hole in the gap-free order; appendMessage maps it to "not appended".
  appendMessage: `WITH bumped AS (
      UPDATE chats SET last_seq = last_seq + 1
      WHERE id = $2 AND current_epoch = $4
        AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $2 AND user_id = $3 AND removed_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM messages WHERE id = $1)
      RETURNING last_seq
    ), inserted AS (
      INSERT INTO messages (id, chat_id, sender_id, seq, epoch, encryption_key_id, encrypted_content,
          signature, mentions, decryption_permissions, encryption_version, created_at_encrypted,
          chain_id, chain_counter, chain_prev, sender_agent)
      SELECT $1, $2, $3, b.last_seq, $4, e.id, $5, $6, $7, $8, 1, true, $9, $10, $11, $12
      FROM bumped b JOIN chat_epochs e ON e.chat_id = $2 AND e.epoch = $4
      RETURNING seq, created_at
    )%OUTBOX%
    SELECT seq, created_at FROM inserted`,
  // Several messages of one chat in one statement (bench/chat: one commit, one chat-row update
  // per batch instead of per message). Same rules as appendMessage, per message: the sender is
  // still a member, the epoch is current and the id is new; the chat row's lock is taken by the
  // UPDATE, which adds the number of messages that pass, and those get the next seqs in input
  // order. Membership and id checks run twice (in the UPDATE and when numbering), on the same
  // snapshot, so both see the same messages. A concurrent insert of one of the ids (another node)
  // still hits the primary key and aborts the whole statement, bump included: the caller then
  // appends the messages one by one. %OUTBOX% is replaced by the mentions' outbox rows or nothing.
  appendMessages: `WITH input AS (
      SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::int[], $5::bytea[], $6::bytea[], $7::jsonb[],
          $8::bytea[], $9::bigint[], $10::bytea[], $11::text[], $12::jsonb[])
        WITH ORDINALITY AS m(id, sender_id, epoch, content, signature, perms, chain_id,
          chain_counter, chain_prev, sender_agent, mentions, ord)
    ), bumped AS (
      UPDATE chats c SET last_seq = c.last_seq + (SELECT count(*) FROM input m
          WHERE m.epoch = c.current_epoch
            AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = m.sender_id AND removed_at IS NULL)
            AND NOT EXISTS (SELECT 1 FROM messages WHERE id = m.id))
      WHERE c.id = $1 AND EXISTS (SELECT 1 FROM input m
          WHERE m.epoch = c.current_epoch
            AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = m.sender_id AND removed_at IS NULL)
            AND NOT EXISTS (SELECT 1 FROM messages WHERE id = m.id))
      RETURNING c.last_seq, c.current_epoch
    ), numbered AS (
      SELECT m.*, b.last_seq - count(*) OVER () + row_number() OVER (ORDER BY m.ord) AS seq
      FROM bumped b JOIN input m ON m.epoch = b.current_epoch
      WHERE EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = m.sender_id AND removed_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM messages WHERE id = m.id)
    ), inserted AS (
      INSERT INTO messages (id, chat_id, sender_id, seq, epoch, encryption_key_id, encrypted_content,
          signature, mentions, decryption_permissions, encryption_version, created_at_encrypted,
          chain_id, chain_counter, chain_prev, sender_agent)
      SELECT n.id, $1, n.sender_id, n.seq, n.epoch, e.id, n.content, n.signature,
        ARRAY(SELECT jsonb_array_elements_text(n.mentions)), n.perms, 1, true,
        n.chain_id, n.chain_counter, n.chain_prev, n.sender_agent
      FROM numbered n JOIN chat_epochs e ON e.chat_id = $1 AND e.epoch = n.epoch
      RETURNING id, sender_id, seq, created_at
    )%OUTBOX%
    SELECT id, seq, created_at FROM inserted`,
  historyBefore: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
  historyAfter: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3`,
  historyRange: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq ASC`,
  // The signature stays: receivers need the deleted message's hash to check the tombstone and
  // to link the sender's chain across the gap. Only the ciphertext goes.
  deleteMessage: `UPDATE messages SET deleted_at = now(), encrypted_content = NULL, tombstone = $4
    WHERE id = $1 AND chat_id = $2 AND sender_id = $3 AND deleted_at IS NULL RETURNING ${MESSAGE_COLUMNS}`,
  ownMessage: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND chat_id = $2 AND sender_id = $3
    AND sender_agent IS NULL AND deleted_at IS NULL`,
  wrapsFor: `SELECT epoch, encrypted_key, wrapped_by FROM encryption_keys
    WHERE chat_id = $1 AND user_id = $2 AND key_type = 'session' AND revoked_at IS NULL ORDER BY epoch`,
} as const;

const BATCH_OUTBOX = `, queued AS (
      INSERT INTO outbox (queue, job_name, payload, dedupe_key)
      SELECT 'agent-runs', 'agent-run',
        jsonb_build_object('chatId', $1::uuid, 'messageId', i.id, 'agentName', a, 'userId', i.sender_id),
        'agent-run:' || i.id || ':' || a
      FROM inserted i JOIN input m ON m.id = i.id, jsonb_array_elements_text(m.mentions) AS a
      ON CONFLICT (dedupe_key) DO NOTHING
    )`;
// Mentions become outbox rows in the same statement; without mentions the statement has none.
const SINGLE_OUTBOX = `, queued AS (
      INSERT INTO outbox (queue, job_name, payload, dedupe_key)
      SELECT 'agent-runs', 'agent-run',
        jsonb_build_object('chatId', $2::uuid, 'messageId', $1::uuid, 'agentName', a, 'userId', $3::uuid),
        'agent-run:' || $1::uuid::text || ':' || a
      FROM inserted i, unnest($7::text[]) AS a
      ON CONFLICT (dedupe_key) DO NOTHING
    )`;
const APPEND_ONE = {
  plain: SQL.appendMessage.replace('%OUTBOX%', ''),
  mentions: SQL.appendMessage.replace('%OUTBOX%', SINGLE_OUTBOX),
};
const APPEND_BATCH = {
  plain: SQL.appendMessages.replace('%OUTBOX%', ''),
  mentions: SQL.appendMessages.replace('%OUTBOX%', BATCH_OUTBOX),
};

/** What `appendMessage(s)` stores: a signed message, checked by the caller. */
export interface AppendInput {
  id: string;
  chatId: string;
  senderId: string;
  epoch: number;
  ciphertext: Uint8Array;
  signature: Uint8Array;
  chain: { id: Uint8Array; counter: number; prev: Uint8Array };
  mentions: string[];
  decryptionPermissions: Record<string, unknown>;
  /** Set when the gateway posts for an agent (sender_id is then the agent's owner). */
  senderAgent?: string;
}

/** Raised by `appendMessages` when an id was inserted concurrently: append one by one instead. */
export class DuplicateInBatchError extends Error {}

/** The row of a message just appended: what was handed in, with the seq and time it got. */
export function storedRow(m: AppendInput, seq: string, createdAt: Date): MessageRow {
  return {
    id: m.id,
    chat_id: m.chatId,
    sender_id: m.senderId,
    sender_agent: m.senderAgent ?? null,
    seq,
    epoch: m.epoch,
    encrypted_content: Buffer.from(m.ciphertext),
    signature: Buffer.from(m.signature),
    chain_id: Buffer.from(m.chain.id),
    chain_counter: String(m.chain.counter),
    chain_prev: Buffer.from(m.chain.prev),
    tombstone: null,
    mentions: m.mentions,
    decryption_permissions: m.decryptionPermissions,
    created_at: createdAt,
    deleted_at: null,
  };
}

/** The only SQL of Vchat. */
export class ChatRepository {
  constructor(private readonly db: Queryable) {}

  async insertChat(id: string, kind: string, title: Uint8Array | null, createdBy: string) {
    return ((await this.db.query(SQL.insertChat, [id, kind, title, createdBy])).rowCount ?? 0) > 0;
  }

  async insertMembers(chatId: string, userIds: string[], ownerId: string, epoch: number) {
    await this.db.query(SQL.insertMembers, [chatId, userIds, ownerId, epoch]);
  }

  async insertEpoch(
    chatId: string,
    epoch: number,
    createdBy: string,
    commitment: Uint8Array,
  ): Promise<string> {
    return (
      await this.db.query<{ id: string }>(SQL.insertEpoch, [
        chatId,
        epoch,
        createdBy,
        Buffer.from(commitment),
      ])
    ).rows[0]!.id;
  }

  async insertLog(chatId: string, entries: StoredLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const col = <T>(f: (x: StoredLogEntry) => T) => entries.map(f);
    await this.db.query(SQL.insertLog, [
      chatId,
      col((x) => x.entry.position),
      col((x) => x.entry.epoch),
      col((x) => x.entry.action),
      col((x) => x.entry.actorId),
      col((x) => x.entry.subjectId),
      col((x) => Buffer.from(x.entry.subjectFingerprint)),
      col((x) => x.entry.role),
      col((x) => Buffer.from(x.entry.prevHash)),
      col((x) => (x.entry.keyCommitment ? Buffer.from(x.entry.keyCommitment) : null)),
      col((x) => Buffer.from(x.entry.signature)),
      col((x) => Buffer.from(x.hash)),
    ]);
  }

  /** Entries after `afterPosition` (-1 for all), in order. */
  async logAfter(chatId: string, afterPosition: number, limit: number) {
    return (await this.db.query<LogRow>(SQL.logAfter, [chatId, afterPosition, limit])).rows;
  }

  async setRole(chatId: string, userId: string, role: string) {
    await this.db.query(SQL.setRole, [chatId, userId, role]);
  }

  async epochCommitments(chatId: string, epochs: number[]) {
    const { rows } = await this.db.query<{ epoch: number; key_commitment: Buffer | null }>(
      SQL.epochCommitments,
      [chatId, epochs],
    );
    return new Map(rows.map((r) => [r.epoch, r.key_commitment]));
  }

  async ownMessage(id: string, chatId: string, senderId: string) {
    return (await this.db.query<MessageRow>(SQL.ownMessage, [id, chatId, senderId])).rows[0];
  }

  async insertWraps(
    chatId: string,
    wrappedBy: string,
    wraps: { userId: string; epoch: number; wrap: Uint8Array }[],
  ) {
    if (wraps.length === 0) return;
    await this.db.query(SQL.insertWraps, [
      chatId,
      wrappedBy,
      wraps.map((w) => w.userId),
      wraps.map((w) => w.epoch),
      wraps.map((w) => Buffer.from(w.wrap)),
    ]);
  }

  async signers(ids: string[]) {
    return (await this.db.query<SignerRow>(SQL.signers, [ids])).rows;
  }

  async chatsOfUser(userId: string) {
    return (await this.db.query<ChatRow>(SQL.chatsOfUser, [userId])).rows;
  }

  async chatForMember(chatId: string, userId: string) {
    return (await this.db.query<ChatRow>(SQL.chatForMember, [chatId, userId])).rows[0];
  }

  async lockChat(chatId: string) {
    return (await this.db.query<ChatRow>(SQL.lockChat, [chatId])).rows[0];
  }

  async activeMembers(chatId: string) {
    return (await this.db.query<MemberRow>(SQL.activeMembers, [chatId])).rows;
  }

  async allMembers(chatId: string) {
    return (await this.db.query<MemberRow>(SQL.allMembers, [chatId])).rows;
  }

  async membersOfChats(chatIds: string[]) {
    return (await this.db.query<MemberRow & { chat_id: string }>(SQL.membersOfChats, [chatIds]))
      .rows;
  }

  async removeMembers(chatId: string, userIds: string[]) {
    await this.db.query(SQL.removeMembers, [chatId, userIds]);
  }

  async setEpoch(chatId: string, epoch: number) {
    await this.db.query(SQL.setEpoch, [chatId, epoch]);
  }

  async messageById(id: string) {
    return (await this.db.query<MessageRow>(SQL.messageById, [id])).rows[0];
  }

  async appendMessage(m: AppendInput): Promise<MessageRow | undefined> {
    // Named: PostgreSQL parses and plans this statement once per connection, not per message.
    // Only seq and time come back: the rest of the row is what the caller handed in.
    const withMentions = m.mentions.length > 0;
    const res = await this.db
      .query<{ seq: string; created_at: Date }>({
        name: withMentions ? 'chat.append-message-mentions' : 'chat.append-message',
        text: withMentions ? APPEND_ONE.mentions : APPEND_ONE.plain,
        values: [
          m.id,
          m.chatId,
          m.senderId,
          m.epoch,
          Buffer.from(m.ciphertext),
          Buffer.from(m.signature),
          m.mentions,
          m.decryptionPermissions,
          Buffer.from(m.chain.id),
          m.chain.counter,
          Buffer.from(m.chain.prev),
          m.senderAgent ?? null,
        ],
      })
      .catch((err: { code?: string; constraint?: string }) => {
        if (err.code === '23505' && err.constraint === 'messages_pkey') return undefined;
        throw err;
      });
    const r = res?.rows[0];
    return r ? storedRow(m, r.seq, r.created_at) : undefined;
  }

  /**
   * Appends messages of one chat (distinct ids) in one statement; returns the seq and time of
   * those appended, by id. Absent: that message failed a condition (the caller finds out which).
   * Throws DuplicateInBatchError if one id was inserted meanwhile (nothing is appended then).
   */
  async appendMessages(
    chatId: string,
    ms: readonly AppendInput[],
  ): Promise<Map<string, { seq: string; created_at: Date }>> {
    const col = <T>(f: (m: AppendInput) => T) => ms.map(f);
    const withMentions = ms.some((m) => m.mentions.length > 0);
    const res = await this.db
      .query<{ id: string; seq: string; created_at: Date }>({
        name: withMentions ? 'chat.append-messages-mentions' : 'chat.append-messages',
        text: withMentions ? APPEND_BATCH.mentions : APPEND_BATCH.plain,
        values: [
          chatId,
          col((m) => m.id),
          col((m) => m.senderId),
          col((m) => m.epoch),
          col((m) => Buffer.from(m.ciphertext)),
          col((m) => Buffer.from(m.signature)),
          col((m) => m.decryptionPermissions),
          col((m) => Buffer.from(m.chain.id)),
          col((m) => m.chain.counter),
          col((m) => Buffer.from(m.chain.prev)),
          col((m) => m.senderAgent ?? null),
          col((m) => JSON.stringify(m.mentions)),
        ],
      })
      .catch((err: { code?: string; constraint?: string }) => {
        if (err.code === '23505' && err.constraint === 'messages_pkey')
          throw new DuplicateInBatchError('a message id was inserted concurrently');
        throw err;
      });
    return new Map(res.rows.map((r) => [r.id, { seq: r.seq, created_at: r.created_at }]));
  }

  async history(chatId: string, cursor: { before?: string; after?: string }, limit: number) {
    if (cursor.after !== undefined) {
      return (await this.db.query<MessageRow>(SQL.historyAfter, [chatId, cursor.after, limit]))
        .rows;
    }
    const before = cursor.before ?? '9223372036854775807';
    return (
      await this.db.query<MessageRow>(SQL.historyBefore, [chatId, before, limit])
    ).rows.reverse();
  }

  /** Messages strictly between two sequence numbers, for filling a delivery gap. */
  async between(chatId: string, afterSeq: string, beforeSeq: string) {
    return (await this.db.query<MessageRow>(SQL.historyRange, [chatId, afterSeq, beforeSeq])).rows;
  }

  async deleteMessage(id: string, chatId: string, senderId: string, tombstone: Uint8Array) {
    return (
      await this.db.query<MessageRow>(SQL.deleteMessage, [
        id,
        chatId,
        senderId,
        Buffer.from(tombstone),
      ])
    ).rows[0];
  }

  async wrapsFor(chatId: string, userId: string) {
    return (await this.db.query<WrapRow>(SQL.wrapsFor, [chatId, userId])).rows;
  }
}
