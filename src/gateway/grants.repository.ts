import type { Queryable } from '../db/pool.ts';

export interface GrantRow {
  grant_id: string;
  epoch: number;
  user_id: string;
  agent_name: string;
  resource_type: 'chat' | 'files' | 'memory';
  resource_id: string;
  access_level: 'decrypt_ephemeral';
  scope: 'from_now_on' | 'all_history';
  expires_at: Date | null;
  envelope: Buffer;
  created_at: Date;
}

/** What opening a grant for a call needs of its row. */
export type CallGrantRow = Pick<GrantRow, 'grant_id' | 'epoch' | 'expires_at' | 'envelope'>;

export interface PinRow {
  user_id: string;
  ed25519_public: Buffer;
  gateway_public: Buffer;
  pin_signature: Buffer;
}

const COLUMNS = `grant_id, epoch, user_id, agent_name, resource_type, resource_id, access_level, scope,
  expires_at, envelope, created_at`;

const SQL = {
  removeForResource: `DELETE FROM agent_key_grants
    WHERE user_id = $1 AND agent_name = $2 AND resource_type = $3 AND resource_id = $4`,
  insert: `INSERT INTO agent_key_grants (grant_id, epoch, user_id, agent_name, resource_type, resource_id,
      access_level, scope, expires_at, envelope)
    SELECT $1, w.epoch, $2, $3, $4, $5, $6, $7, $8, w.envelope
    FROM unnest($9::int[], $10::bytea[]) AS w(epoch, envelope)
    ON CONFLICT (grant_id, epoch) DO NOTHING`,
  ofGrant: `SELECT ${COLUMNS} FROM agent_key_grants WHERE grant_id = $1 AND user_id = $2 ORDER BY epoch`,
  listOfUser: `SELECT ${COLUMNS} FROM agent_key_grants WHERE user_id = $1
    AND ($2::text IS NULL OR agent_name = $2) ORDER BY created_at DESC, epoch LIMIT 5000`,
  revoke: `DELETE FROM agent_key_grants WHERE grant_id = $1 AND user_id = $2 RETURNING resource_type, resource_id`,
  // Only the epochs a call needs, for the one (owner, agent): a tool call reads no other grant.
  forCall: `SELECT ${COLUMNS} FROM agent_key_grants
    WHERE user_id = $1 AND agent_name = $2 AND resource_type = $3 AND resource_id = ANY($4::uuid[])
      AND epoch = ANY($5::int[])`,
  anyForResources: `SELECT DISTINCT resource_id, epoch FROM agent_key_grants
    WHERE user_id = $1 AND agent_name = $2 AND resource_type = $3 AND resource_id = ANY($4::uuid[])`,
  // File grants of one (owner, agent), paged by file id: the files list_files may show.
  grantedFiles: `SELECT DISTINCT resource_id FROM agent_key_grants
    WHERE user_id = $1 AND agent_name = $2 AND resource_type = 'files'
      AND ($3::uuid IS NULL OR resource_id > $3) AND ($4::uuid[] IS NULL OR resource_id = ANY($4::uuid[]))
    ORDER BY resource_id LIMIT $5`,
  pin: `SELECT user_id, ed25519_public, gateway_public, pin_signature FROM gateway_identity_pins WHERE user_id = $1`,
  insertPin: `INSERT INTO gateway_identity_pins (user_id, ed25519_public, gateway_public, pin_signature)
    VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING`,
  registeredSigningKey: `SELECT identity_signing_key FROM users WHERE id = $1 AND COALESCE(encryption_enabled, false)`,
  pins: `SELECT user_id, ed25519_public, gateway_public, pin_signature FROM gateway_identity_pins
    WHERE user_id = ANY($1::uuid[])`,
  registeredSigningKeys: `SELECT id, identity_signing_key FROM users
    WHERE id = ANY($1::uuid[]) AND COALESCE(encryption_enabled, false) AND identity_signing_key IS NOT NULL`,
  insertPins: `INSERT INTO gateway_identity_pins (user_id, ed25519_public, gateway_public, pin_signature)
    SELECT * FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[])
    ON CONFLICT (user_id) DO NOTHING`,
} as const;

/** The only SQL over `agent_key_grants` and `gateway_identity_pins`. */
export class GrantsRepository {
  constructor(private readonly db: Queryable) {}

  async removeForResource(userId: string, agentName: string, type: string, resourceId: string) {
    await this.db.query(SQL.removeForResource, [userId, agentName, type, resourceId]);
  }

  async insert(g: {
    grantId: string;
    userId: string;
    agentName: string;
    resourceType: string;
    resourceId: string;
    accessLevel: string;
    scope: string;
    expiresAt: Date | null;
    wraps: { epoch: number; envelope: Uint8Array }[];
  }) {
    await this.db.query(SQL.insert, [
      g.grantId,
      g.userId,
      g.agentName,
      g.resourceType,
      g.resourceId,
      g.accessLevel,
      g.scope,
      g.expiresAt,
      g.wraps.map((w) => w.epoch),
      g.wraps.map((w) => Buffer.from(w.envelope)),
    ]);
  }

  async ofGrant(grantId: string, userId: string) {
    return (await this.db.query<GrantRow>(SQL.ofGrant, [grantId, userId])).rows;
  }

  async list(userId: string, agentName: string | null) {
    return (await this.db.query<GrantRow>(SQL.listOfUser, [userId, agentName])).rows;
  }

  async revoke(grantId: string, userId: string) {
    return (
      await this.db.query<{ resource_type: string; resource_id: string }>(SQL.revoke, [
        grantId,
        userId,
      ])
    ).rows;
  }

  async forCall(p: {
    userId: string;
    agentName: string;
    resourceType: string;
    resourceIds: string[];
    epochs: number[];
  }) {
    return (
      await this.db.query<GrantRow>({
        name: 'gateway-grants-for-call',
        text: SQL.forCall,
        values: [p.userId, p.agentName, p.resourceType, p.resourceIds, p.epochs],
      })
    ).rows;
  }

  async epochsGranted(userId: string, agentName: string, type: string, resourceIds: string[]) {
    return (
      await this.db.query<{ resource_id: string; epoch: number }>(SQL.anyForResources, [
        userId,
        agentName,
        type,
        resourceIds,
      ])
    ).rows;
  }

  async grantedFiles(p: {
    userId: string;
    agentName: string;
    after: string | null;
    only: string[] | null;
    limit: number;
  }): Promise<string[]> {
    const { rows } = await this.db.query<{ resource_id: string }>(SQL.grantedFiles, [
      p.userId,
      p.agentName,
      p.after,
      p.only,
      p.limit,
    ]);
    return rows.map((r) => r.resource_id);
  }

  async pin(userId: string) {
    return (await this.db.query<PinRow>(SQL.pin, [userId])).rows[0];
  }

  async insertPin(p: {
    userId: string;
    key: Uint8Array;
    gatewayPublic: Uint8Array;
    signature: Uint8Array;
  }) {
    await this.db.query(SQL.insertPin, [
      p.userId,
      Buffer.from(p.key),
      Buffer.from(p.gatewayPublic),
      Buffer.from(p.signature),
    ]);
  }

  async pins(userIds: string[]) {
    return (
      await this.db.query<PinRow>({ name: 'gateway-pins', text: SQL.pins, values: [userIds] })
    ).rows;
  }

  async registeredSigningKeys(userIds: string[]) {
    return (
      await this.db.query<{ id: string; identity_signing_key: Buffer }>(SQL.registeredSigningKeys, [
        userIds,
      ])
    ).rows;
  }

  async insertPins(
    rows: { userId: string; key: Uint8Array; gatewayPublic: Uint8Array; signature: Uint8Array }[],
  ) {
    if (rows.length === 0) return;
    await this.db.query(SQL.insertPins, [
      rows.map((r) => r.userId),
      rows.map((r) => Buffer.from(r.key)),
      rows.map((r) => Buffer.from(r.gatewayPublic)),
      rows.map((r) => Buffer.from(r.signature)),
    ]);
  }

  async registeredSigningKey(userId: string): Promise<Buffer | null> {
    return (
      (
        await this.db.query<{ identity_signing_key: Buffer | null }>(SQL.registeredSigningKey, [
          userId,
        ])
      ).rows[0]?.identity_signing_key ?? null
    );
  }
}
