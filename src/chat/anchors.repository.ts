import type { Pool } from '../db/pool.ts';

export interface AnchorRow {
  length: number;
  head: Buffer;
  signature: Buffer;
}

const SQL = {
  get: `SELECT length, head, signature FROM chat_log_anchors WHERE chat_id = $1 AND user_id = $2`,
  // Keeps the longest: an older anchor sent late (another device, a retry) changes nothing.
  upsert: `INSERT INTO chat_log_anchors (chat_id, user_id, length, head, signature)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (chat_id, user_id) DO UPDATE
      SET length = EXCLUDED.length, head = EXCLUDED.head, signature = EXCLUDED.signature,
          updated_at = NOW()
      WHERE chat_log_anchors.length < EXCLUDED.length`,
  entryHash: `SELECT entry_hash FROM chat_log WHERE chat_id = $1 AND position = $2`,
  signingKey: `SELECT identity_signing_key FROM users WHERE id = $1 AND COALESCE(encryption_enabled, false)`,
} as const;

/** `chat_log_anchors`, plus the two look-ups checking an anchor (a log hash, a signing key). */
export class AnchorRepository {
  constructor(private readonly db: Pool) {}

  async get(chatId: string, userId: string): Promise<AnchorRow | undefined> {
    return (await this.db.query<AnchorRow>(SQL.get, [chatId, userId])).rows[0];
  }

  async upsert(
    chatId: string,
    userId: string,
    a: { length: number; head: Uint8Array; signature: Uint8Array },
  ) {
    await this.db.query(SQL.upsert, [
      chatId,
      userId,
      a.length,
      Buffer.from(a.head),
      Buffer.from(a.signature),
    ]);
  }

  async entryHash(chatId: string, position: number): Promise<Buffer | undefined> {
    return (await this.db.query<{ entry_hash: Buffer }>(SQL.entryHash, [chatId, position])).rows[0]
      ?.entry_hash;
  }

  async signingKey(userId: string): Promise<Buffer | null> {
    const row = (
      await this.db.query<{ identity_signing_key: Buffer | null }>(SQL.signingKey, [userId])
    ).rows[0];
    return row?.identity_signing_key ?? null;
  }
}
