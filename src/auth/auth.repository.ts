import type { IdentityPublicJson } from '../crypto/identity.ts';
import type { KdfParamsJson } from '../crypto/passphrase.ts';
import type { Queryable } from '../db/pool.ts';

export type { KdfParamsJson };

export interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
  auth_key_hash: string | null;
  key_derivation_params: KdfParamsJson | null;
  master_key_encrypted: Buffer | null;
  backup_phrase_hash: string | null;
  encryption_enabled: boolean;
  identity_public: IdentityPublicJson | null;
  identity_signing_key: Buffer | null;
  created_at: Date;
}

export interface SessionRow {
  id: string;
  user_id: string;
  purpose: 'login' | 'recovery';
  expires_at: Date;
  last_seen_at: Date;
}

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

const USER_COLUMNS = `id, email, display_name, auth_key_hash, key_derivation_params, master_key_encrypted,
  backup_phrase_hash, COALESCE(encryption_enabled, false) AS encryption_enabled, identity_public,
  identity_signing_key, created_at`;

const SQL = {
  insertUser: `INSERT INTO users (email, display_name, auth_key_hash, key_derivation_params)
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING ${USER_COLUMNS}`,
  userByEmail: `SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = $1`,
  userById: `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`,
  insertSession: `INSERT INTO sessions (user_id, token_hash, purpose, user_agent, ip_address, expires_at)
    VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING id, user_id, purpose, expires_at, last_seen_at`,
  liveSession: `SELECT id, user_id, purpose, expires_at, last_seen_at FROM sessions
    WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
  liveSessionIds: `SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL AND expires_at > now()`,
  touchSession: `UPDATE sessions SET last_seen_at = now() WHERE id = $1`,
  revokeSession: `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`,
  revokeUserSessions: `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`,
  setupEncryption: `UPDATE users SET master_key_encrypted = $2, backup_phrase_hash = $3, identity_public = $4,
      identity_signing_key = $5, encryption_enabled = true, encryption_enabled_at = now(), updated_at = now()
    WHERE id = $1 AND NOT COALESCE(encryption_enabled, false) RETURNING id`,
  insertKey: `INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params) VALUES ($1, $2, $3, $4)`,
  liveKey: `SELECT encrypted_key, key_params FROM encryption_keys
    WHERE user_id = $1 AND key_type = $2 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1`,
  changePassphrase: `UPDATE users SET auth_key_hash = $2, key_derivation_params = $3, master_key_encrypted = $4,
      updated_at = now() WHERE id = $1 AND COALESCE(encryption_enabled, false)`,
  insertAgentToken: `INSERT INTO agent_tokens (user_id, agent_name, label, token_hash, expires_at)
    VALUES ($1, $2, $3, $4, now() + make_interval(days => $5))
    RETURNING id, user_id, agent_name, label, created_at, expires_at, revoked_at, last_used_at`,
  agentTokensOfUser: `SELECT id, user_id, agent_name, label, created_at, expires_at, revoked_at, last_used_at
    FROM agent_tokens WHERE user_id = $1 ORDER BY created_at DESC LIMIT 500`,
  revokeAgentToken: `UPDATE agent_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND user_id = $2 RETURNING id`,
  // Checked on every call, written at most once a minute (like sessions): a busy agent does not
  // rewrite its token row, and its WAL, on every tool call.
  liveAgentToken: `WITH live AS (
      SELECT id, user_id, agent_name, label, created_at, expires_at, revoked_at, last_used_at
      FROM agent_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
    ), touched AS (
      UPDATE agent_tokens t SET last_used_at = now() FROM live
      WHERE t.id = live.id AND (live.last_used_at IS NULL OR live.last_used_at < now() - interval '1 minute')
      RETURNING t.id
    )
    SELECT * FROM live`,
} as const;

/** The only SQL of accounts, sessions, keys and agent tokens. */
export class AuthRepository {
  constructor(private readonly db: Queryable) {}

  async insertUser(
    email: string,
    displayName: string | null,
    authKeyHash: string,
    kdf: KdfParamsJson,
  ) {
    const { rows } = await this.db.query<UserRow>(SQL.insertUser, [
      email,
      displayName,
      authKeyHash,
      kdf,
    ]);
    return rows[0];
  }

  async userByEmail(email: string) {
    return (await this.db.query<UserRow>(SQL.userByEmail, [email])).rows[0];
  }

  async userById(id: string) {
    return (await this.db.query<UserRow>(SQL.userById, [id])).rows[0];
  }

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
    const { rows } = await this.db.query<{ id: string }>(SQL.liveSessionIds, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  async touchSession(id: string) {
    await this.db.query(SQL.touchSession, [id]);
  }

  async revokeSession(id: string) {
    await this.db.query(SQL.revokeSession, [id]);
  }

  async revokeUserSessions(userId: string) {
    await this.db.query(SQL.revokeUserSessions, [userId]);
  }

  async setupEncryption(u: {
    userId: string;
    masterKeyEncrypted: Uint8Array;
    verifier: string;
    identityPublic: IdentityPublicJson;
    signingKey: Uint8Array;
  }): Promise<boolean> {
    const { rowCount } = await this.db.query(SQL.setupEncryption, [
      u.userId,
      u.masterKeyEncrypted,
      u.verifier,
      u.identityPublic,
      u.signingKey,
    ]);
    return rowCount === 1;
  }

  async insertKey(
    userId: string,
    type: 'master' | 'identity',
    encrypted: Uint8Array,
    params: object,
  ) {
    await this.db.query(SQL.insertKey, [userId, type, encrypted, params]);
  }

  async liveKey(userId: string, type: 'master' | 'identity') {
    const { rows } = await this.db.query<{
      encrypted_key: Buffer;
      key_params: Record<string, unknown>;
    }>(SQL.liveKey, [userId, type]);
    return rows[0];
  }

  async changePassphrase(
    userId: string,
    authKeyHash: string,
    kdf: KdfParamsJson,
    mkEncrypted: Uint8Array,
  ) {
    const { rowCount } = await this.db.query(SQL.changePassphrase, [
      userId,
      authKeyHash,
      kdf,
      mkEncrypted,
    ]);
    return rowCount === 1;
  }

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

  async agentTokensOfUser(userId: string) {
    return (await this.db.query<AgentTokenRow>(SQL.agentTokensOfUser, [userId])).rows;
  }

  async revokeAgentToken(id: string, userId: string) {
    return ((await this.db.query(SQL.revokeAgentToken, [id, userId])).rowCount ?? 0) > 0;
  }

  async liveAgentToken(tokenHash: Buffer) {
    return (await this.db.query<AgentTokenRow>(SQL.liveAgentToken, [tokenHash])).rows[0];
  }
}
