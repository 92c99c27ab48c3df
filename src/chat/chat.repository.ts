import type { Queryable } from '../db/pool.ts';

export interface ChatRow {
  id: string;
  kind: 'direct' | 'group';
  title_encrypted: Buffer | null;
  created_by: string;
  current_epoch: number;
  last_seq: string;
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
}

const MESSAGE_COLUMNS = `id, chat_id, sender_id, sender_agent, seq, epoch, encrypted_content, signature, mentions,
  COALESCE(decryption_permissions, '{}'::jsonb) AS decryption_permissions, created_at, deleted_at`;

const SQL = {
  insertChat: `INSERT INTO chats (id, kind, title_encrypted, created_by) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO NOTHING RETURNING id`,
  insertMembers: `INSERT INTO chat_members (chat_id, user_id, role, joined_epoch)
    SELECT $1, u, CASE WHEN u = $3 THEN 'owner' ELSE 'member' END, $4 FROM unnest($2::uuid[]) AS u
    ON CONFLICT (chat_id, user_id) DO UPDATE SET removed_at = NULL, joined_epoch = EXCLUDED.joined_epoch,
      joined_at = now(), role = 'member'`,
  insertEpoch: `INSERT INTO chat_epochs (chat_id, epoch, created_by) VALUES ($1, $2, $3) RETURNING id`,
  insertWraps: `INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params, chat_id, epoch, wrapped_by)
    SELECT w.user_id, 'session', w.wrap, jsonb_build_object('v', 1), $1, w.epoch, $2
    FROM unnest($3::uuid[], $4::int[], $5::bytea[]) AS w(user_id, epoch, wrap)
    ON CONFLICT (chat_id, epoch, user_id) WHERE key_type = 'session' DO NOTHING`,
  signers: `SELECT id, identity_signing_key FROM users WHERE id = ANY($1::uuid[]) AND COALESCE(encryption_enabled, false)`,
  chatsOfUser: `SELECT c.id, c.kind, c.title_encrypted, c.created_by, c.current_epoch, c.last_seq, c.created_at
    FROM chats c JOIN chat_members m ON m.chat_id = c.id
    WHERE m.user_id = $1 AND m.removed_at IS NULL ORDER BY c.created_at DESC LIMIT 1000`,
  chatForMember: `SELECT c.id, c.kind, c.title_encrypted, c.created_by, c.current_epoch, c.last_seq, c.created_at
    FROM chats c JOIN chat_members m ON m.chat_id = c.id
    WHERE c.id = $1 AND m.user_id = $2 AND m.removed_at IS NULL`,
  lockChat: `SELECT id, kind, title_encrypted, created_by, current_epoch, last_seq, created_at FROM chats WHERE id = $1 FOR UPDATE`,
  activeMembers: `SELECT user_id, role, joined_epoch, joined_at, removed_at FROM chat_members
    WHERE chat_id = $1 AND removed_at IS NULL ORDER BY joined_at, user_id`,
  allMembers: `SELECT user_id, role, joined_epoch, joined_at, removed_at FROM chat_members
    WHERE chat_id = $1 ORDER BY joined_at, user_id`,
  membersOfChats: `SELECT chat_id, user_id, role, joined_epoch, joined_at, removed_at FROM chat_members
    WHERE chat_id = ANY($1::uuid[]) ORDER BY joined_at, user_id`,
  removeMembers: `UPDATE chat_members SET removed_at = now() WHERE chat_id = $1 AND user_id = ANY($2::uuid[]) AND removed_at IS NULL`,
  setEpoch: `UPDATE chats SET current_epoch = $2, updated_at = now() WHERE id = $1`,
  messageById: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`,
  memberSigningKey: `SELECT u.identity_signing_key FROM chat_members m JOIN users u ON u.id = m.user_id
    WHERE m.chat_id = $1 AND m.user_id = $2 AND m.removed_at IS NULL`,
  // One statement, so one round trip and the chat row is locked only while it runs. The UPDATE
  // takes the chat row lock and hands out the next seq only if the sender is still a member, the
  // epoch is current and the id is new; commit order therefore equals seq order within a chat.
  // Mentions become outbox rows in the same statement (same transaction). No row back means
  // one of the conditions failed: the caller finds out which.
  appendMessage: `WITH bumped AS (
      UPDATE chats SET last_seq = last_seq + 1
      WHERE id = $2 AND current_epoch = $4
        AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $2 AND user_id = $3 AND removed_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM messages WHERE id = $1)
      RETURNING last_seq
    ), inserted AS (
      INSERT INTO messages (id, chat_id, sender_id, seq, epoch, encryption_key_id, encrypted_content,
          signature, mentions, decryption_permissions, encryption_version, created_at_encrypted, sender_agent)
      SELECT $1, $2, $3, b.last_seq, $4, e.id, $5, $6, $7, $8, 1, true, $9
      FROM bumped b JOIN chat_epochs e ON e.chat_id = $2 AND e.epoch = $4
      ON CONFLICT (id) DO NOTHING
      RETURNING ${MESSAGE_COLUMNS}
    ), queued AS (
      INSERT INTO outbox (queue, job_name, payload, dedupe_key)
      SELECT 'agent-runs', 'agent-run',
        jsonb_build_object('chatId', i.chat_id, 'messageId', i.id, 'agentName', a, 'userId', i.sender_id),
        'agent-run:' || i.id || ':' || a
      FROM inserted i, unnest($7::text[]) AS a
      ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT * FROM inserted`,
  historyBefore: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
  historyAfter: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3`,
  historyRange: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq ASC`,
  deleteMessage: `UPDATE messages SET deleted_at = now(), encrypted_content = NULL, signature = NULL
    WHERE id = $1 AND chat_id = $2 AND sender_id = $3 AND deleted_at IS NULL RETURNING ${MESSAGE_COLUMNS}`,
  wrapsFor: `SELECT epoch, encrypted_key, wrapped_by FROM encryption_keys
    WHERE chat_id = $1 AND user_id = $2 AND key_type = 'session' AND revoked_at IS NULL ORDER BY epoch`,
} as const;

/** The only SQL of Vchat. */
export class ChatRepository {
  constructor(private readonly db: Queryable) {}

  async insertChat(id: string, kind: string, title: Uint8Array | null, createdBy: string) {
    return ((await this.db.query(SQL.insertChat, [id, kind, title, createdBy])).rowCount ?? 0) > 0;
  }

  async insertMembers(chatId: string, userIds: string[], ownerId: string, epoch: number) {
    await this.db.query(SQL.insertMembers, [chatId, userIds, ownerId, epoch]);
  }

  async insertEpoch(chatId: string, epoch: number, createdBy: string): Promise<string> {
    return (await this.db.query<{ id: string }>(SQL.insertEpoch, [chatId, epoch, createdBy]))
      .rows[0]!.id;
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

  /** The sender's signing key if they are an active member of the chat; undefined otherwise. */
  async memberSigningKey(chatId: string, userId: string) {
    const { rows } = await this.db.query<{ identity_signing_key: Buffer | null }>(
      SQL.memberSigningKey,
      [chatId, userId],
    );
    return rows[0];
  }

  async appendMessage(m: {
    id: string;
    chatId: string;
    senderId: string;
    epoch: number;
    ciphertext: Uint8Array;
    signature: Uint8Array;
    mentions: string[];
    decryptionPermissions: Record<string, unknown>;
    /** Set when the gateway posts for an agent (sender_id is then the agent's owner). */
    senderAgent?: string;
  }): Promise<MessageRow | undefined> {
    // Named: PostgreSQL parses and plans this statement once per connection, not per message.
    const { rows } = await this.db.query<MessageRow>({
      name: 'chat.append-message',
      text: SQL.appendMessage,
      values: [
        m.id,
        m.chatId,
        m.senderId,
        m.epoch,
        Buffer.from(m.ciphertext),
        Buffer.from(m.signature),
        m.mentions,
        m.decryptionPermissions,
        m.senderAgent ?? null,
      ],
    });
    return rows[0];
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

  async deleteMessage(id: string, chatId: string, senderId: string) {
    return (await this.db.query<MessageRow>(SQL.deleteMessage, [id, chatId, senderId])).rows[0];
  }

  async wrapsFor(chatId: string, userId: string) {
    return (await this.db.query<WrapRow>(SQL.wrapsFor, [chatId, userId])).rows;
  }
}
