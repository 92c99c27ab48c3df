import type { Pool } from '../db/pool.ts';

export interface DirectoryRow {
  id: string;
  email: string;
  display_name: string | null;
}

/** Exact, case-insensitive match, and only people who can receive end-to-end-encrypted chats. */
const FIND_BY_EMAIL = `
  SELECT id, email, display_name FROM users
  WHERE lower(email) = lower($1) AND COALESCE(encryption_enabled, false)`;

/** Profiles the caller may see: themselves and anyone who shares (or shared) a chat with them. */
const PROFILES_VISIBLE_TO = `
  SELECT u.id, u.email, u.display_name FROM users u
  WHERE u.id = any($1::uuid[])
    AND (u.id = $2 OR EXISTS (
      SELECT 1 FROM chat_members mine
      JOIN chat_members theirs ON theirs.chat_id = mine.chat_id
      WHERE mine.user_id = $2 AND theirs.user_id = u.id))`;

export class DirectoryRepository {
  constructor(private readonly pool: Pool) {}

  async findByEmail(email: string): Promise<DirectoryRow | undefined> {
    const { rows } = await this.pool.query<DirectoryRow>(FIND_BY_EMAIL, [email]);
    return rows[0];
  }

  async profilesVisibleTo(viewerId: string, ids: string[]): Promise<DirectoryRow[]> {
    const { rows } = await this.pool.query<DirectoryRow>(PROFILES_VISIBLE_TO, [ids, viewerId]);
    return rows;
  }
}
