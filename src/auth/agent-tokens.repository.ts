import type { Queryable } from '../db/pool.ts';

export interface AgentTokenRow {
  id: string;
  user_id: string;
  agent_name: string;
  label: string | null;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = 'id, user_id, agent_name, label, created_at, expires_at, revoked_at, last_used_at';

const SQL = {
  // A worker's token for one agent run: minutes, deleted when the run ends.
  insertRunToken: `INSERT INTO agent_tokens (user_id, agent_name, label, token_hash, expires_at)
    VALUES ($1, $2, 'agent run (worker)', $3, now() + make_interval(secs => $4))
    RETURNING id, user_id, agent_name, label, created_at, expires_at, revoked_at, last_used_at`,
  deleteAgentToken: `DELETE FROM agent_tokens WHERE id = $1 AND user_id = $2`,
  insertAgentToken: `INSERT INTO agent_tokens (user_id, agent_name, label, token_hash, expires_at)
    VALUES ($1, $2, $3, $4, now() + make_interval(days => $5)) RETURNING ${COLUMNS}`,
  agentTokensOfUser: `SELECT ${COLUMNS} FROM agent_tokens WHERE user_id = $1 ORDER BY created_at DESC LIMIT 500`,
  revokeAgentToken: `UPDATE agent_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND user_id = $2 RETURNING id`,
  // Checked on every call, written at most once a minute (like sessions): a busy agent does not
  // rewrite its token row, and its WAL, on every tool call.
  liveAgentToken: `WITH live AS (
      SELECT ${COLUMNS} FROM agent_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
    ), touched AS (
      UPDATE agent_tokens t SET last_used_at = now() FROM live
      WHERE t.id = live.id AND (live.last_used_at IS NULL OR live.last_used_at < now() - interval '1 minute')
      RETURNING t.id
    )
    SELECT * FROM live`,
} as const;

/** The only SQL of agent tokens. */
export class AgentTokenRepository {
  constructor(private readonly db: Queryable) {}

  async insertAgentToken(t: {
    userId: string;
    agentName: string;
    label: string | null;
    tokenHash: Buffer;
    days: number;
  }) {
    const { rows } = await this.db.query<AgentTokenRow>(SQL.insertAgentToken, [
      t.userId,
      t.agentName,
      t.label,
      t.tokenHash,
      t.days,
    ]);
    return rows[0]!;
  }

  async insertRunToken(userId: string, agentName: string, tokenHash: Buffer, seconds: number) {
    const { rows } = await this.db.query<AgentTokenRow>(SQL.insertRunToken, [
      userId,
      agentName,
      tokenHash,
      seconds,
    ]);
    return rows[0]!;
  }

  async deleteAgentToken(id: string, userId: string) {
    await this.db.query(SQL.deleteAgentToken, [id, userId]);
  }

  async agentTokensOfUser(userId: string) {
    return (await this.db.query<AgentTokenRow>(SQL.agentTokensOfUser, [userId])).rows;
  }

  async revokeAgentToken(id: string, userId: string) {
    return ((await this.db.query(SQL.revokeAgentToken, [id, userId])).rowCount ?? 0) > 0;
  }

  /** Every MCP request asks: a named statement, parsed and planned once per connection. */
  async liveAgentToken(tokenHash: Buffer) {
    return (
      await this.db.query<AgentTokenRow>({
        name: 'agent-token-live',
        text: SQL.liveAgentToken,
        values: [tokenHash],
      })
    ).rows[0];
  }
}
