import type { Queryable } from '../db/pool.ts';

export interface SessionRow {
  id: string;
  user_id: string;
  purpose: 'login' | 'recovery';
  expires_at: Date;
  last_seen_at: Date;
}

const SQL = {
  insertSession: `INSERT INTO sessions (user_id, token_hash, purpose, user_agent, ip_address, expires_at)
    VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING id, user_id, purpose, expires_at, last_seen_at`,
  liveSession: `SELECT id, user_id, purpose, expires_at, last_seen_at FROM sessions
    WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
  liveSessionIds: `SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL AND expires_at > now()`,
  touchSession: `UPDATE sessions SET last_seen_at = now() WHERE id = $1`,
  revokeSession: `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`,
} as const;

/** The only SQL of sessions (their revocation on a passphrase change lives with that change). */
export class SessionRepository {
  constructor(private readonly db: Queryable) {}

  async insertSession(s: {
    userId: string;
    tokenHash: Buffer;
    purpose: 'login' | 'recovery';
    userAgent: string | null;
    ip: string | null;
    ttlSeconds: number;
  }) {
    const { rows } = await this.db.query<SessionRow>(SQL.insertSession, [
      s.userId,
      s.tokenHash,
      s.purpose,
      s.userAgent,
      s.ip,
      s.ttlSeconds,
    ]);
    return rows[0]!;
  }

  async liveSession(tokenHash: Buffer) {
    // Named: run on every authenticated request, so planned once per connection.
    return (
      await this.db.query<SessionRow>({
        name: 'auth.live-session',
        text: SQL.liveSession,
        values: [tokenHash],
      })
    ).rows[0];
  }

  async liveSessionIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.db.query<{ id: string }>(SQL.liveSessionIds, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  async touchSession(id: string) {
    await this.db.query(SQL.touchSession, [id]);
  }

  async revokeSession(id: string) {
    await this.db.query(SQL.revokeSession, [id]);
  }
}
