import type { Queryable } from '../db/pool.ts';

export interface MemberChatRow {
  id: string;
  kind: 'direct' | 'group';
  current_epoch: number;
  last_seq: string;
  created_at: Date;
  member_count: number;
}

export interface GatewayMessageRow {
  id: string;
  chat_id: string;
  seq: string;
  sender_id: string | null;
  sender_agent: string | null;
  epoch: number;
  encrypted_content: Buffer | null;
  signature: Buffer | null;
  chain_id: Buffer | null;
  chain_counter: string | null;
  chain_prev: Buffer | null;
  mentions: string[];
  decryption_permissions: unknown;
  created_at: Date;
  deleted_at: Date | null;
}

/**
 * Which chats a person belongs to. The hub branch builds `src/access/` for this; until it lands
 * the gateway asks through this interface only, so the switch is one constructor argument.
 */
export interface ChatMembership {
  /** Of `chatIds` (every chat when absent), those `userId` is an active member of. */
  activeChats(userId: string, chatIds?: string[]): Promise<MemberChatRow[]>;
}

const CHAT_COLUMNS = `c.id, c.kind, c.current_epoch, c.last_seq, c.created_at,
  (SELECT count(*)::int FROM chat_members x WHERE x.chat_id = c.id AND x.removed_at IS NULL) AS member_count`;
const MESSAGE_COLUMNS = `id, chat_id, seq, sender_id, sender_agent, epoch, encrypted_content, signature,
  chain_id, chain_counter, chain_prev, mentions, COALESCE(decryption_permissions, '{}'::jsonb) AS decryption_permissions, created_at, deleted_at`;

const SQL = {
  activeChats: `SELECT ${CHAT_COLUMNS} FROM chats c JOIN chat_members m ON m.chat_id = c.id
    WHERE m.user_id = $1 AND m.removed_at IS NULL AND ($2::uuid[] IS NULL OR c.id = ANY($2::uuid[]))
    ORDER BY c.created_at DESC LIMIT 1000`,
  before: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
  // The latest message of one agent chain in a chat: where the agent's next message links.
  agentChainHead: `SELECT chain_counter, signature FROM messages
    WHERE chat_id = $1 AND sender_id = $2 AND sender_agent = $3 AND chain_id = $4
    ORDER BY seq DESC LIMIT 1`,
  after: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3`,
  postedById: `SELECT id, chat_id, seq, sender_id, sender_agent, epoch FROM messages WHERE id = $1`,
} as const;

/** The gateway's read-only SQL over chats and messages. */
export class GatewayChatsRepository implements ChatMembership {
  constructor(private readonly db: Queryable) {}

  async activeChats(userId: string, chatIds?: string[]) {
    return (await this.db.query<MemberChatRow>(SQL.activeChats, [userId, chatIds ?? null])).rows;
  }

  /** Oldest first. `before` and `after` are seq cursors; neither: the latest `limit`. */
  async messages(chatId: string, cursor: { before?: number; after?: number }, limit: number) {
    if (cursor.after !== undefined) {
      return (
        await this.db.query<GatewayMessageRow>(SQL.after, [chatId, String(cursor.after), limit])
      ).rows;
    }
    const before = cursor.before !== undefined ? String(cursor.before) : '9223372036854775807';
    return (
      await this.db.query<GatewayMessageRow>(SQL.before, [chatId, before, limit])
    ).rows.reverse();
  }

  /** Who posted message `id` where (for idempotent agent posts). */
  async postedById(id: string) {
    return (
      await this.db.query<
        Pick<GatewayMessageRow, 'id' | 'chat_id' | 'seq' | 'sender_id' | 'sender_agent' | 'epoch'>
      >(SQL.postedById, [id])
    ).rows[0];
  }

  async agentChainHead(chatId: string, ownerId: string, agentName: string, chainId: Uint8Array) {
    const row = (
      await this.db.query<{ chain_counter: string; signature: Buffer }>(SQL.agentChainHead, [
        chatId,
        ownerId,
        agentName,
        Buffer.from(chainId),
      ])
    ).rows[0];
    return row
      ? { counter: Number(row.chain_counter), signature: new Uint8Array(row.signature) }
      : undefined;
  }
}
