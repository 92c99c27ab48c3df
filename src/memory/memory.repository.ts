import type { Queryable } from '../db/pool.ts';

export interface MemoryKeyRow {
  user_id: string;
  agent_name: string;
  key_id: string;
  wrapped_key: Buffer;
  created_at: Date;
}

export interface MemoryEntryRow {
  id: string;
  user_id: string;
  agent_name: string;
  key_id: string;
  written_by: 'agent' | 'user';
  envelope: Buffer;
  created_at: Date;
  updated_at: Date;
}

const ENTRY_COLUMNS =
  'id, user_id, agent_name, key_id, written_by, envelope, created_at, updated_at';

const SQL = {
  key: `SELECT user_id, agent_name, key_id, wrapped_key, created_at FROM agent_memory_keys
    WHERE user_id = $1 AND agent_name = $2`,
  insertKey: `INSERT INTO agent_memory_keys (user_id, agent_name, key_id, wrapped_key)
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
    RETURNING user_id, agent_name, key_id, wrapped_key, created_at`,
  entries: `SELECT ${ENTRY_COLUMNS} FROM agent_memories WHERE user_id = $1 AND agent_name = $2
    ORDER BY created_at DESC, id DESC LIMIT $3`,
  entry: `SELECT ${ENTRY_COLUMNS} FROM agent_memories WHERE id = $1 AND user_id = $2 AND agent_name = $3`,
  count: `SELECT count(*)::int AS n FROM agent_memories WHERE user_id = $1 AND agent_name = $2`,
  insert: `INSERT INTO agent_memories (id, user_id, agent_name, key_id, written_by, envelope)
    VALUES ($1, $2, $3, $4, $5, $6)`,
  // A person's write: a new entry, or a correction that replaces the envelope (and its writer).
  upsert: `INSERT INTO agent_memories (id, user_id, agent_name, key_id, written_by, envelope)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (id) DO UPDATE SET envelope = EXCLUDED.envelope, written_by = EXCLUDED.written_by,
      updated_at = now()
    WHERE agent_memories.user_id = EXCLUDED.user_id AND agent_memories.agent_name = EXCLUDED.agent_name
      AND agent_memories.key_id = EXCLUDED.key_id
    RETURNING ${ENTRY_COLUMNS}`,
  remove: `DELETE FROM agent_memories WHERE id = $1 AND user_id = $2 AND agent_name = $3 RETURNING id`,
} as const;

/** The only SQL over `agent_memory_keys` and `agent_memories`. */
export class MemoryRepository {
  constructor(private readonly db: Queryable) {}

  async key(userId: string, agentName: string): Promise<MemoryKeyRow | undefined> {
    return (await this.db.query<MemoryKeyRow>(SQL.key, [userId, agentName])).rows[0];
  }

  /** Undefined when the pair already has a key (or the key id is taken). */
  async insertKey(k: {
    userId: string;
    agentName: string;
    keyId: string;
    wrappedKey: Uint8Array;
  }): Promise<MemoryKeyRow | undefined> {
    return (
      await this.db.query<MemoryKeyRow>(SQL.insertKey, [
        k.userId,
        k.agentName,
        k.keyId,
        Buffer.from(k.wrappedKey),
      ])
    ).rows[0];
  }

  async entries(userId: string, agentName: string, limit: number): Promise<MemoryEntryRow[]> {
    return (await this.db.query<MemoryEntryRow>(SQL.entries, [userId, agentName, limit])).rows;
  }

  async entry(id: string, userId: string, agentName: string): Promise<MemoryEntryRow | undefined> {
    return (await this.db.query<MemoryEntryRow>(SQL.entry, [id, userId, agentName])).rows[0];
  }

  async count(userId: string, agentName: string): Promise<number> {
    return (await this.db.query<{ n: number }>(SQL.count, [userId, agentName])).rows[0]?.n ?? 0;
  }

  async insert(e: {
    id: string;
    userId: string;
    agentName: string;
    keyId: string;
    writtenBy: 'agent' | 'user';
    envelope: Uint8Array;
  }): Promise<void> {
    await this.db.query(SQL.insert, [
      e.id,
      e.userId,
      e.agentName,
      e.keyId,
      e.writtenBy,
      Buffer.from(e.envelope),
    ]);
  }

  /** Undefined when the id belongs to another pair. */
  async upsert(e: {
    id: string;
    userId: string;
    agentName: string;
    keyId: string;
    writtenBy: 'agent' | 'user';
    envelope: Uint8Array;
  }): Promise<MemoryEntryRow | undefined> {
    return (
      await this.db.query<MemoryEntryRow>(SQL.upsert, [
        e.id,
        e.userId,
        e.agentName,
        e.keyId,
        e.writtenBy,
        Buffer.from(e.envelope),
      ])
    ).rows[0];
  }

  async remove(id: string, userId: string, agentName: string): Promise<boolean> {
    return ((await this.db.query(SQL.remove, [id, userId, agentName])).rowCount ?? 0) > 0;
  }
}
