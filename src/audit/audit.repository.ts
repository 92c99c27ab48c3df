import type { Queryable } from '../db/pool.ts';

export interface AuditInsert {
  userId: string;
  agentName: string;
  resourceId: string;
  resourceType: string;
  decryptionSuccess: boolean;
  ipAddress: string | null;
  userAgent: string | null;
  toolName: string;
  requestId: string;
  outcome: 'allowed' | 'denied' | 'error';
  reason: string | null;
  itemCount: number;
}

export interface AuditRow {
  id: string;
  agent_name: string;
  resource_id: string;
  resource_type: string;
  decryption_success: boolean;
  tool_name: string | null;
  request_id: string | null;
  outcome: 'allowed' | 'denied' | 'error' | null;
  reason: string | null;
  item_count: number;
  decrypted_at: Date;
}

const SQL = {
  insert: `INSERT INTO decryption_audit_log (user_id, agent_name, resource_id, resource_type,
      decryption_success, ip_address, user_agent, tool_name, request_id, outcome, reason, item_count)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bool[], $6::inet[],
      $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[])`,
  // decrypted_at is the seed's TIMESTAMP (no zone) in the server's zone: compare as timestamptz.
  page: `SELECT id, agent_name, resource_id, resource_type, decryption_success, tool_name, request_id,
      outcome, reason, item_count, decrypted_at
    FROM decryption_audit_log
    WHERE user_id = $1
      AND ($2::text IS NULL OR agent_name = $2)
      AND ($3::uuid IS NULL OR resource_id = $3)
      AND ($4::text IS NULL OR outcome = $4)
      AND ($5::timestamptz IS NULL OR decrypted_at >= $5::timestamptz)
      AND ($6::timestamptz IS NULL OR decrypted_at < $6::timestamptz)
      AND ($7::uuid IS NULL OR (decrypted_at, id) <
        (SELECT c.decrypted_at, c.id FROM decryption_audit_log c WHERE c.id = $7 AND c.user_id = $1))
    ORDER BY decrypted_at DESC, id DESC
    LIMIT $8`,
} as const;

/** What a person filters their audit log by; `cursor` is the id of the previous page's last row. */
export interface AuditPageQuery {
  agentName?: string;
  resourceId?: string;
  outcome?: string;
  from?: Date;
  to?: Date;
  cursor?: string;
  limit: number;
}

/** The only SQL over `decryption_audit_log`. */
export class AuditRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * One statement for the whole call, so its rows commit together or not at all. Named: every
   * tool call runs it, and PostgreSQL then parses and plans it once per connection.
   */
  async insert(rows: AuditInsert[]): Promise<void> {
    if (rows.length === 0) return;
    const col = <K extends keyof AuditInsert>(k: K) => rows.map((r) => r[k]);
    await this.db.query({
      name: 'audit-insert',
      text: SQL.insert,
      values: [
        col('userId'),
        col('agentName'),
        col('resourceId'),
        col('resourceType'),
        col('decryptionSuccess'),
        col('ipAddress'),
        col('userAgent'),
        col('toolName'),
        col('requestId'),
        col('outcome'),
        col('reason'),
        col('itemCount'),
      ],
    });
  }

  async page(userId: string, f: AuditPageQuery) {
    return (
      await this.db.query<AuditRow>(SQL.page, [
        userId,
        f.agentName ?? null,
        f.resourceId ?? null,
        f.outcome ?? null,
        f.from ?? null,
        f.to ?? null,
        f.cursor ?? null,
        f.limit,
      ])
    ).rows;
  }
}
