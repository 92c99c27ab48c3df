import type { Queryable } from '../db/pool.ts';

const SQL = {
  // One round trip for any number of ids; a removed member is no member.
  memberChats: `SELECT chat_id FROM chat_members
    WHERE user_id = $1 AND chat_id = ANY($2::uuid[]) AND removed_at IS NULL`,
} as const;

/** The only SQL of the access check. */
export class AccessRepository {
  constructor(private readonly db: Queryable) {}

  async memberChats(userId: string, chatIds: string[]): Promise<string[]> {
    const { rows } = await this.db.query<{ chat_id: string }>(SQL.memberChats, [userId, chatIds]);
    return rows.map((r) => r.chat_id);
  }
}
