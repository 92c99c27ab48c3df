import type { Queryable } from '../../db/pool.ts';

export interface TriggerRow {
  id: string;
  chat_id: string;
  seq: string;
  sender_id: string | null;
  sender_agent: string | null;
  created_at: Date;
  deleted_at: Date | null;
}

const SQL = {
  trigger: `SELECT id, chat_id, seq, sender_id, sender_agent, created_at, deleted_at FROM messages WHERE id = $1`,
  replyExists: `SELECT 1 FROM messages WHERE id = $1`,
} as const;

/** What an agent run reads without the gateway: ids and sequence numbers, never content. */
export class AgentRunsRepository {
  constructor(private readonly db: Queryable) {}

  async trigger(messageId: string): Promise<TriggerRow | undefined> {
    return (await this.db.query<TriggerRow>(SQL.trigger, [messageId])).rows[0];
  }

  async replyExists(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.replyExists, [id])).rowCount ?? 0) > 0;
  }
}
