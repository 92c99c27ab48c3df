import type { Queryable } from '../db/pool.ts';

export interface PermissionRow {
  id: string;
  user_id: string;
  agent_name: string;
  resource_type: string;
  access_level: string;
  conditions: unknown;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  'id, user_id, agent_name, resource_type, access_level, conditions, created_at, updated_at';

const SQL = {
  listOfUser: `SELECT ${COLUMNS} FROM agent_permissions WHERE user_id = $1
    AND ($2::text IS NULL OR agent_name = $2) ORDER BY agent_name, resource_type LIMIT 1000`,
  forAgent: `SELECT ${COLUMNS} FROM agent_permissions WHERE user_id = $1 AND agent_name = $2`,
  upsert: `INSERT INTO agent_permissions (user_id, agent_name, resource_type, access_level, conditions)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (user_id, agent_name, resource_type) DO UPDATE
      SET access_level = EXCLUDED.access_level, conditions = EXCLUDED.conditions, updated_at = now()
    RETURNING ${COLUMNS}`,
  remove: `DELETE FROM agent_permissions WHERE id = $1 AND user_id = $2 RETURNING id`,
} as const;

/** The only SQL over `agent_permissions`. */
export class PermissionsRepository {
  constructor(private readonly db: Queryable) {}

  async list(userId: string, agentName: string | null) {
    return (await this.db.query<PermissionRow>(SQL.listOfUser, [userId, agentName])).rows;
  }

  /** Every row of one (owner, agent): one query serves a whole tool call (named: every call asks). */
  async forAgent(userId: string, agentName: string) {
    return (
      await this.db.query<PermissionRow>({
        name: 'gateway-permissions',
        text: SQL.forAgent,
        values: [userId, agentName],
      })
    ).rows;
  }

  async upsert(p: {
    userId: string;
    agentName: string;
    resourceType: string;
    accessLevel: string;
    conditions: Record<string, unknown>;
  }) {
    const { rows } = await this.db.query<PermissionRow>(SQL.upsert, [
      p.userId,
      p.agentName,
      p.resourceType,
      p.accessLevel,
      p.conditions,
    ]);
    return rows[0]!;
  }

  async remove(id: string, userId: string): Promise<boolean> {
    return ((await this.db.query(SQL.remove, [id, userId])).rowCount ?? 0) > 0;
  }
}
