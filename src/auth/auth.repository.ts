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
  recovery_public_key: Buffer | null;
  encryption_enabled: boolean;
  identity_public: IdentityPublicJson | null;
  identity_signing_key: Buffer | null;
  created_at: Date;
}

const USER_COLUMNS = `id, email, display_name, auth_key_hash, key_derivation_params, master_key_encrypted,
  backup_phrase_hash, recovery_public_key, COALESCE(encryption_enabled, false) AS encryption_enabled,
  identity_public, identity_signing_key, created_at`;

const SQL = {
  insertUser: `INSERT INTO users (email, display_name, auth_key_hash, key_derivation_params)
    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING ${USER_COLUMNS}`,
  userByEmail: `SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = $1`,
  userById: `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`,
  // One statement, so enabling encryption and storing both envelopes happen together or not at all.
  setupEncryption: `WITH u AS (
      UPDATE users SET master_key_encrypted = $2, backup_phrase_hash = $3, recovery_public_key = $4,
        identity_public = $5, identity_signing_key = $6, encryption_enabled = true,
        encryption_enabled_at = now(), updated_at = now()
      WHERE id = $1 AND NOT COALESCE(encryption_enabled, false) RETURNING id
    ), k AS (
      INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params)
      SELECT id, 'master', $7::bytea, '{"wrappedUnder":"recovery","v":1}'::jsonb FROM u
      UNION ALL SELECT id, 'identity', $8::bytea, '{"wrappedUnder":"master","v":1}'::jsonb FROM u
      RETURNING 1
    ) SELECT (SELECT count(*) FROM u)::int AS n`,
  liveKey: `SELECT encrypted_key, key_params FROM encryption_keys
    WHERE user_id = $1 AND key_type = $2 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1`,
  // The new passphrase and signing out every session of the user are one atomic statement.
  changePassphrase: `WITH u AS (
      UPDATE users SET auth_key_hash = $2, key_derivation_params = $3, master_key_encrypted = $4,
        updated_at = now() WHERE id = $1 AND COALESCE(encryption_enabled, false) RETURNING id
    ), s AS (
      UPDATE sessions SET revoked_at = now() WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL
      RETURNING 1
    ) SELECT (SELECT count(*) FROM u)::int AS n`,
} as const;

/** The only SQL of accounts and their key envelopes. */
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

  /** False when encryption was already set up (nothing is written then). */
  async setupEncryption(u: {
    userId: string;
    masterKeyEncrypted: Uint8Array;
    verifier: string;
    recoveryPublicKey: Uint8Array;
    identityPublic: IdentityPublicJson;
    signingKey: Uint8Array;
    recoveryWrappedMasterKey: Uint8Array;
    identityWrapped: Uint8Array;
  }): Promise<boolean> {
    const { rows } = await this.db.query<{ n: number }>(SQL.setupEncryption, [
      u.userId,
      u.masterKeyEncrypted,
      u.verifier,
      u.recoveryPublicKey,
      u.identityPublic,
      u.signingKey,
      u.recoveryWrappedMasterKey,
      u.identityWrapped,
    ]);
    return rows[0]?.n === 1;
  }

  async liveKey(userId: string, type: 'master' | 'identity') {
    const { rows } = await this.db.query<{
      encrypted_key: Buffer;
      key_params: Record<string, unknown>;
    }>(SQL.liveKey, [userId, type]);
    return rows[0];
  }

  /** New passphrase envelope and KDF params; every session of the user is revoked with it. */
  async changePassphrase(
    userId: string,
    authKeyHash: string,
    kdf: KdfParamsJson,
    mkEncrypted: Uint8Array,
  ): Promise<boolean> {
    const { rows } = await this.db.query<{ n: number }>(SQL.changePassphrase, [
      userId,
      authKeyHash,
      kdf,
      mkEncrypted,
    ]);
    return rows[0]?.n === 1;
  }
}
