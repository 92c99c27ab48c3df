import type { Queryable } from '../db/pool.ts';
import type { ChainRow } from './chain.ts';

/** A row with the text forms the chain hashes (see chain.ts), straight from PostgreSQL. */
export interface ChainDbRow {
  id: string;
  user_id: string;
  agent_name: string;
  resource_type: string;
  resource_id: string;
  tool_name: string | null;
  request_id: string | null;
  outcome: string | null;
  reason: string | null;
  decryption_success: boolean;
  item_count: number;
  ip_address: string | null;
  user_agent: string | null;
  decrypted_at_text: string;
  chain_index: string | null;
  prev_hash: Buffer | null;
  row_hash: Buffer | null;
}

export interface CheckpointDbRow {
  user_id: string;
  chain_index: string;
  head_hash: Buffer;
  signature: Buffer;
  created_at: Date;
}

// The text forms are fixed here once: inet as PostgreSQL prints it, the timestamp to the µs.
const CHAIN_COLUMNS = `id, user_id, agent_name, resource_type, resource_id, tool_name, request_id,
  outcome, reason, decryption_success, item_count, ip_address::text AS ip_address, user_agent,
  to_char(decrypted_at, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS decrypted_at_text,
  chain_index, prev_hash, row_hash`;

const SQL = {
  usersWithPending: `SELECT DISTINCT user_id FROM decryption_audit_log WHERE chain_index IS NULL LIMIT $1`,
  // One sealer per user at a time, across worker replicas.
  lockUser: `SELECT pg_advisory_xact_lock(hashtextextended('vutler-audit-seal:' || $1::text, 0))`,
  head: `SELECT chain_index, row_hash FROM decryption_audit_log
    WHERE user_id = $1 AND chain_index IS NOT NULL ORDER BY chain_index DESC LIMIT 1`,
  pending: `SELECT ${CHAIN_COLUMNS} FROM decryption_audit_log
    WHERE user_id = $1 AND chain_index IS NULL ORDER BY log_seq LIMIT $2`,
  link: `UPDATE decryption_audit_log d SET chain_index = u.chain_index, prev_hash = u.prev_hash,
      row_hash = u.row_hash
    FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(id, chain_index, prev_hash, row_hash)
    WHERE d.id = u.id AND d.chain_index IS NULL`,
  insertCheckpoint: `INSERT INTO audit_checkpoints (user_id, chain_index, head_hash, gateway_public, signature)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, chain_index) DO NOTHING`,
  usersWithRows: `SELECT DISTINCT user_id FROM decryption_audit_log ORDER BY user_id`,
  linkedRange: `SELECT ${CHAIN_COLUMNS} FROM decryption_audit_log
    WHERE user_id = $1 AND chain_index >= $2 AND chain_index <= $3 ORDER BY chain_index`,
  linkedAfter: `SELECT ${CHAIN_COLUMNS} FROM decryption_audit_log
    WHERE user_id = $1 AND chain_index > $2 ORDER BY chain_index LIMIT $3`,
  pendingOfUser: `SELECT ${CHAIN_COLUMNS} FROM decryption_audit_log
    WHERE user_id = $1 AND chain_index IS NULL ORDER BY log_seq LIMIT $2`,
  checkpoints: `SELECT user_id, chain_index, head_hash, signature, created_at FROM audit_checkpoints
    WHERE user_id = $1 ORDER BY chain_index`,
  // The checkpoints that can cover rows min..max: from min up to the first one at or after max.
  covering: `SELECT user_id, chain_index, head_hash, signature, created_at FROM audit_checkpoints
    WHERE user_id = $1 AND chain_index >= $2 AND chain_index <= COALESCE(
      (SELECT min(chain_index) FROM audit_checkpoints WHERE user_id = $1 AND chain_index >= $3),
      9223372036854775807)
    ORDER BY chain_index`,
  byIds: `SELECT ${CHAIN_COLUMNS} FROM decryption_audit_log WHERE user_id = $1 AND id = ANY($2::uuid[])`,
} as const;

export function toChainRow(r: ChainDbRow): ChainRow {
  return {
    id: r.id,
    userId: r.user_id,
    agentName: r.agent_name,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    toolName: r.tool_name,
    requestId: r.request_id,
    outcome: r.outcome,
    reason: r.reason,
    decryptionSuccess: r.decryption_success,
    itemCount: r.item_count,
    ipAddress: r.ip_address,
    userAgent: r.user_agent,
    decryptedAt: r.decrypted_at_text,
    chainIndex: r.chain_index === null ? null : Number(r.chain_index),
    prevHash: r.prev_hash ? new Uint8Array(r.prev_hash) : null,
    rowHash: r.row_hash ? new Uint8Array(r.row_hash) : null,
  };
}

/** The only SQL over the chain columns of `decryption_audit_log` and over `audit_checkpoints`. */
export class ChainRepository {
  constructor(private readonly db: Queryable) {}

  async usersWithPending(limit: number): Promise<string[]> {
    return (await this.db.query<{ user_id: string }>(SQL.usersWithPending, [limit])).rows.map(
      (r) => r.user_id,
    );
  }

  async lockUser(userId: string): Promise<void> {
    await this.db.query(SQL.lockUser, [userId]);
  }

  async head(userId: string): Promise<{ chainIndex: number; rowHash: Uint8Array } | null> {
    const r = (await this.db.query<{ chain_index: string; row_hash: Buffer }>(SQL.head, [userId]))
      .rows[0];
    return r ? { chainIndex: Number(r.chain_index), rowHash: new Uint8Array(r.row_hash) } : null;
  }

  async pending(userId: string, limit: number): Promise<ChainRow[]> {
    return (await this.db.query<ChainDbRow>(SQL.pending, [userId, limit])).rows.map(toChainRow);
  }

  async link(
    links: Array<{ id: string; chainIndex: number; prevHash: Uint8Array; rowHash: Uint8Array }>,
  ): Promise<void> {
    await this.db.query(SQL.link, [
      links.map((l) => l.id),
      links.map((l) => l.chainIndex),
      links.map((l) => Buffer.from(l.prevHash)),
      links.map((l) => Buffer.from(l.rowHash)),
    ]);
  }

  async insertCheckpoint(c: {
    userId: string;
    chainIndex: number;
    headHash: Uint8Array;
    gatewayPublic: Uint8Array;
    signature: Uint8Array;
  }): Promise<void> {
    await this.db.query(SQL.insertCheckpoint, [
      c.userId,
      c.chainIndex,
      Buffer.from(c.headHash),
      Buffer.from(c.gatewayPublic),
      Buffer.from(c.signature),
    ]);
  }

  async usersWithRows(): Promise<string[]> {
    return (await this.db.query<{ user_id: string }>(SQL.usersWithRows)).rows.map((r) => r.user_id);
  }

  async linkedRange(userId: string, from: number, to: number): Promise<ChainRow[]> {
    return (await this.db.query<ChainDbRow>(SQL.linkedRange, [userId, from, to])).rows.map(
      toChainRow,
    );
  }

  /** Linked rows after `afterIndex` (-1 for the start), a page at a time. */
  async linkedAfter(userId: string, afterIndex: number, limit: number): Promise<ChainRow[]> {
    return (await this.db.query<ChainDbRow>(SQL.linkedAfter, [userId, afterIndex, limit])).rows.map(
      toChainRow,
    );
  }

  async pendingOfUser(userId: string, limit: number): Promise<ChainRow[]> {
    return (await this.db.query<ChainDbRow>(SQL.pendingOfUser, [userId, limit])).rows.map(
      toChainRow,
    );
  }

  async checkpoints(userId: string): Promise<CheckpointDbRow[]> {
    return (await this.db.query<CheckpointDbRow>(SQL.checkpoints, [userId])).rows;
  }

  async covering(userId: string, min: number, max: number): Promise<CheckpointDbRow[]> {
    return (await this.db.query<CheckpointDbRow>(SQL.covering, [userId, min, max])).rows;
  }

  async byIds(userId: string, ids: string[]): Promise<ChainRow[]> {
    return (await this.db.query<ChainDbRow>(SQL.byIds, [userId, ids])).rows.map(toChainRow);
  }
}
