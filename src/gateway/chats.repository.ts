import type { Queryable } from '../db/pool.ts';
import type { CallGrantRow, PinRow } from './grants.repository.ts';
import type { PermissionRow } from './permissions.repository.ts';

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

/** The names MESSAGE_COLUMNS gives its columns (the page's half of the UNION below). */
const MESSAGE_FIELDS = [
  'id',
  'chat_id',
  'seq',
  'sender_id',
  'sender_agent',
  'epoch',
  'encrypted_content',
  'signature',
  'chain_id',
  'chain_counter',
  'chain_prev',
  'mentions',
  'decryption_permissions',
  'created_at',
  'deleted_at',
];

/**
 * Everything a `read_messages` call reads, in one statement: the caller's permission rows, the
 * chat if the owner is an active member, the page of messages (only then), and for that page the
 * grant rows of its epochs and the pins of the owner and its senders. Nothing is decided here:
 * the gateway checks the permission, the membership and every signature on what this returns.
 * The page comes as rows; the rest as one extra row whose `call` column holds it as JSON.
 */
function readCallSql(direction: 'before' | 'after') {
  const page =
    direction === 'before'
      ? 'seq < $4 ORDER BY seq DESC LIMIT $5'
      : 'seq > $4 ORDER BY seq ASC LIMIT $5';
  return `WITH chat AS (
      SELECT ${CHAT_COLUMNS} FROM chats c JOIN chat_members m ON m.chat_id = c.id
      WHERE m.user_id = $1 AND m.removed_at IS NULL AND c.id = $3
    ), page AS (
      SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = (SELECT id FROM chat) AND ${page}
    )
    SELECT NULL::json AS call, ${MESSAGE_FIELDS.join(', ')} FROM page
    UNION ALL
    SELECT json_build_object(
      'permissions', (SELECT COALESCE(json_agg(p), '[]'::json) FROM (
        SELECT id, user_id, agent_name, resource_type, access_level, conditions, created_at, updated_at
        FROM agent_permissions WHERE user_id = $1 AND agent_name = $2) p),
      'chat', (SELECT json_build_object('id', id, 'kind', kind, 'current_epoch', current_epoch,
        'last_seq', last_seq::text, 'created_at', created_at, 'member_count', member_count) FROM chat),
      'grants', (SELECT COALESCE(json_agg(json_build_object('grant_id', g.grant_id, 'epoch', g.epoch,
          'expires_at', g.expires_at, 'envelope', encode(g.envelope, 'hex'))), '[]'::json)
        FROM agent_key_grants g
        WHERE g.user_id = $1 AND g.agent_name = $2 AND g.resource_type = 'chat'
          AND g.resource_id = (SELECT id FROM chat) AND g.epoch = ANY(ARRAY(SELECT epoch FROM page))),
      'pins', (SELECT COALESCE(json_agg(json_build_object('user_id', p.user_id,
          'ed25519_public', encode(p.ed25519_public, 'hex'), 'gateway_public', encode(p.gateway_public, 'hex'),
          'pin_signature', encode(p.pin_signature, 'hex'))), '[]'::json)
        FROM gateway_identity_pins p
        WHERE p.user_id = ANY(ARRAY(SELECT sender_id FROM page WHERE sender_agent IS NULL) || $1::uuid))
    ), ${MESSAGE_FIELDS.map(() => 'NULL').join(', ')}`;
}

/** What `readCall` returns: the rows the separate queries would have read, as they read them. */
export interface CallRead {
  permissions: PermissionRow[];
  /** The chat, when the owner is an active member of it. */
  chat: MemberChatRow | undefined;
  /** Oldest first; empty when `chat` is. */
  messages: GatewayMessageRow[];
  /** This (owner, agent)'s grant rows for this chat and the page's epochs. */
  grants: CallGrantRow[];
  /** Pins of the owner and of the page's human senders (those pinned so far). */
  pins: PinRow[];
}

interface CallJson {
  permissions: (Omit<PermissionRow, 'created_at' | 'updated_at'> & {
    created_at: string;
    updated_at: string;
  })[];
  chat: (Omit<MemberChatRow, 'created_at'> & { created_at: string }) | null;
  grants: { grant_id: string; epoch: number; expires_at: string | null; envelope: string }[];
  pins: {
    user_id: string;
    ed25519_public: string;
    gateway_public: string;
    pin_signature: string;
  }[];
}

const hex = (s: string) => Buffer.from(s, 'hex');

const SQL = {
  readBefore: readCallSql('before'),
  readAfter: readCallSql('after'),
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
    return (
      await this.db.query<MemberChatRow>({
        name: 'gateway-active-chats',
        text: SQL.activeChats,
        values: [userId, chatIds ?? null],
      })
    ).rows;
  }

  /** Oldest first. `before` and `after` are seq cursors; neither: the latest `limit`. */
  async messages(chatId: string, cursor: { before?: number; after?: number }, limit: number) {
    if (cursor.after !== undefined) {
      return (
        await this.db.query<GatewayMessageRow>({
          name: 'gateway-messages-after',
          text: SQL.after,
          values: [chatId, String(cursor.after), limit],
        })
      ).rows;
    }
    const before = cursor.before !== undefined ? String(cursor.before) : '9223372036854775807';
    return (
      await this.db.query<GatewayMessageRow>({
        name: 'gateway-messages-before',
        text: SQL.before,
        values: [chatId, before, limit],
      })
    ).rows.reverse();
  }

  /**
   * One round trip for a `read_messages` call (see `readCallSql`), as a named statement: parsed
   * and planned once per connection. Cursors as in `messages`.
   */
  async readCall(
    userId: string,
    agentName: string,
    chatId: string,
    cursor: { before?: number; after?: number },
    limit: number,
  ): Promise<CallRead> {
    const after = cursor.after !== undefined;
    const bound = after
      ? String(cursor.after)
      : cursor.before !== undefined
        ? String(cursor.before)
        : '9223372036854775807';
    const { rows } = await this.db.query<GatewayMessageRow & { call: CallJson | null }>({
      name: after ? 'gateway-read-after' : 'gateway-read-before',
      text: after ? SQL.readAfter : SQL.readBefore,
      values: [userId, agentName, chatId, bound, limit],
    });
    let call: CallJson | undefined;
    const messages: GatewayMessageRow[] = [];
    for (const r of rows) {
      if (r.call) call = r.call;
      else messages.push(r);
    }
    if (!call) throw new Error('readCall: no call row');
    // UNION ALL keeps no order: the page is sorted here, oldest first.
    messages.sort((a, b) => Number(a.seq) - Number(b.seq));
    for (const m of messages) delete (m as { call?: unknown }).call;
    return {
      permissions: call.permissions.map((p) => ({
        ...p,
        // timestamp without time zone, read as local time exactly as pg-types reads it.
        created_at: new Date(p.created_at),
        updated_at: new Date(p.updated_at),
      })),
      chat: call.chat ? { ...call.chat, created_at: new Date(call.chat.created_at) } : undefined,
      messages,
      grants: call.grants.map((g) => ({
        grant_id: g.grant_id,
        epoch: g.epoch,
        expires_at: g.expires_at === null ? null : new Date(g.expires_at),
        envelope: hex(g.envelope),
      })),
      pins: call.pins.map((p) => ({
        user_id: p.user_id,
        ed25519_public: hex(p.ed25519_public),
        gateway_public: hex(p.gateway_public),
        pin_signature: hex(p.pin_signature),
      })),
    };
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
