import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * Every column the Phase-2 seed document names, with the seed's type and default, as
 * PostgreSQL reports them in information_schema. [table, column, type, default, nullable]
 */
const SEED_COLUMNS: Array<[string, string, string, string | null, boolean]> = [
  ['messages', 'encrypted_content', 'bytea', null, true],
  ['messages', 'encryption_version', 'integer', '1', true],
  ['messages', 'encryption_key_id', 'uuid', null, true],
  ['messages', 'decryption_permissions', 'jsonb', "'{}'::jsonb", true],
  ['messages', 'created_at_encrypted', 'boolean', 'false', true],
  ['users', 'master_key_encrypted', 'bytea', null, true],
  ['users', 'key_derivation_params', 'jsonb', null, true],
  ['users', 'backup_phrase_hash', 'character varying(64)', null, true],
  ['users', 'encryption_enabled', 'boolean', 'false', true],
  ['files', 'encrypted_metadata', 'jsonb', null, true],
  ['files', 'file_key_encrypted', 'bytea', null, true],
  [
    'files',
    'encryption_algorithm',
    'character varying(50)',
    "'AES-256-GCM'::character varying",
    true,
  ],
  ['files', 'synology_path_encrypted', 'character varying(500)', null, true],

  ['encryption_keys', 'id', 'uuid', 'gen_random_uuid()', false],
  ['encryption_keys', 'user_id', 'uuid', null, false],
  ['encryption_keys', 'key_type', 'character varying(50)', null, false],
  ['encryption_keys', 'encrypted_key', 'bytea', null, false],
  ['encryption_keys', 'key_params', 'jsonb', null, false],
  ['encryption_keys', 'created_at', 'timestamp without time zone', 'now()', true],
  ['encryption_keys', 'expires_at', 'timestamp without time zone', null, true],
  ['encryption_keys', 'revoked_at', 'timestamp without time zone', null, true],

  ['agent_permissions', 'id', 'uuid', 'gen_random_uuid()', false],
  ['agent_permissions', 'user_id', 'uuid', null, false],
  ['agent_permissions', 'agent_name', 'character varying(100)', null, false],
  ['agent_permissions', 'resource_type', 'character varying(50)', null, false],
  ['agent_permissions', 'access_level', 'character varying(50)', null, false],
  ['agent_permissions', 'conditions', 'jsonb', "'{}'::jsonb", true],
  ['agent_permissions', 'created_at', 'timestamp without time zone', 'now()', true],
  ['agent_permissions', 'updated_at', 'timestamp without time zone', 'now()', true],

  ['decryption_audit_log', 'id', 'uuid', 'gen_random_uuid()', false],
  ['decryption_audit_log', 'user_id', 'uuid', null, false],
  ['decryption_audit_log', 'agent_name', 'character varying(100)', null, false],
  ['decryption_audit_log', 'resource_id', 'uuid', null, false],
  ['decryption_audit_log', 'resource_type', 'character varying(50)', null, false],
  ['decryption_audit_log', 'decryption_success', 'boolean', null, false],
  ['decryption_audit_log', 'ip_address', 'inet', null, true],
  ['decryption_audit_log', 'user_agent', 'text', null, true],
  ['decryption_audit_log', 'decrypted_at', 'timestamp without time zone', 'now()', true],

  ['vdrive_chat_shares', 'id', 'uuid', 'gen_random_uuid()', false],
  ['vdrive_chat_shares', 'file_id', 'uuid', null, false],
  ['vdrive_chat_shares', 'chat_id', 'uuid', null, false],
  ['vdrive_chat_shares', 'shared_by', 'uuid', null, false],
  ['vdrive_chat_shares', 'message_id', 'uuid', null, true],
  [
    'vdrive_chat_shares',
    'access_permissions',
    'jsonb',
    `'{"read": true, "download": false}'::jsonb`,
    true,
  ],
  ['vdrive_chat_shares', 'expires_at', 'timestamp without time zone', null, true],
  ['vdrive_chat_shares', 'created_at', 'timestamp without time zone', 'now()', true],

  ['github_integrations', 'id', 'uuid', 'gen_random_uuid()', false],
  ['github_integrations', 'user_id', 'uuid', null, false],
  ['github_integrations', 'github_user_id', 'integer', null, false],
  ['github_integrations', 'access_token_encrypted', 'bytea', null, false],
  ['github_integrations', 'refresh_token_encrypted', 'bytea', null, true],
  ['github_integrations', 'scopes', 'text[]', "ARRAY['repo'::text, 'workflow'::text]", true],
  ['github_integrations', 'webhook_secret_encrypted', 'bytea', null, true],
  ['github_integrations', 'connected_repos', 'jsonb', "'[]'::jsonb", true],
  ['github_integrations', 'auto_deploy_enabled', 'boolean', 'true', true],
  ['github_integrations', 'created_at', 'timestamp without time zone', 'now()', true],
  ['github_integrations', 'updated_at', 'timestamp without time zone', 'now()', true],
];

const SEED_INDEXES: Array<[string, string]> = [
  ['encryption_keys', 'idx_encryption_keys_user'],
  ['encryption_keys', 'idx_encryption_keys_type'],
  ['decryption_audit_log', 'idx_audit_user_date'],
  ['decryption_audit_log', 'idx_audit_agent'],
  ['vdrive_chat_shares', 'idx_vdrive_shares_chat'],
  ['vdrive_chat_shares', 'idx_vdrive_shares_file'],
];

describe('the migrated schema', () => {
  let db: TestDatabase;
  let columns: Map<string, { type: string; default: string | null; nullable: boolean }>;
  beforeAll(async () => {
    db = await createTestDatabase();
    const { rows } = await db.pool.query<{
      table_name: string;
      column_name: string;
      type: string;
      column_default: string | null;
      is_nullable: string;
    }>(
      `SELECT c.table_name, c.column_name, format_type(a.atttypid, a.atttypmod) AS type,
              c.column_default, c.is_nullable
       FROM information_schema.columns c
       JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_name))::regclass AND a.attname = c.column_name
       WHERE c.table_schema = 'public'`,
    );
    columns = new Map(
      rows.map((r) => [
        `${r.table_name}.${r.column_name}`,
        { type: r.type, default: r.column_default, nullable: r.is_nullable === 'YES' },
      ]),
    );
  });
  afterAll(async () => db?.drop());

  it('has the Phase-1 tables the seed alters', () => {
    for (const t of ['users', 'sessions', 'chats', 'chat_members', 'messages', 'files']) {
      expect(
        [...columns.keys()].some((k) => k.startsWith(`${t}.`)),
        t,
      ).toBe(true);
    }
  });

  it.each(SEED_COLUMNS)('has %s.%s as %s default %s', (table, column, type, dflt, nullable) => {
    const col = columns.get(`${table}.${column}`);
    expect(col, `${table}.${column} missing`).toBeDefined();
    expect(col).toEqual({ type, default: dflt, nullable });
  });

  it('has the indexes the seed declared inline', async () => {
    const { rows } = await db.pool.query<{ tablename: string; indexname: string }>(
      "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'",
    );
    const have = new Set(rows.map((r) => `${r.tablename}.${r.indexname}`));
    for (const [t, i] of SEED_INDEXES) expect(have.has(`${t}.${i}`), i).toBe(true);
    const auditIdx = await db.pool.query(
      "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_audit_user_date'",
    );
    expect(auditIdx.rows[0].indexdef).toMatch(/\(user_id, decrypted_at\)/);
  });

  it('enforces the seed unique constraints and foreign keys', async () => {
    const { rows } = await db.pool.query(
      "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id",
    );
    const userId = rows[0].id;
    const perm =
      "INSERT INTO agent_permissions (user_id, agent_name, resource_type, access_level) VALUES ($1, 'claude', 'chat', 'metadata')";
    await db.pool.query(perm, [userId]);
    await expect(db.pool.query(perm, [userId])).rejects.toMatchObject({ code: '23505' });
    await expect(
      db.pool.query(
        "INSERT INTO encryption_keys (user_id, key_type, encrypted_key, key_params) VALUES (gen_random_uuid(), 'master', '\\x00', '{}')",
      ),
    ).rejects.toMatchObject({ code: '23503' });
    const gh =
      "INSERT INTO github_integrations (user_id, github_user_id, access_token_encrypted) VALUES ($1, 42, '\\x01') RETURNING scopes, auto_deploy_enabled, connected_repos";
    const inserted = await db.pool.query(gh, [userId]);
    expect(inserted.rows[0]).toEqual({
      scopes: ['repo', 'workflow'],
      auto_deploy_enabled: true,
      connected_repos: [],
    });
    await expect(db.pool.query(gh, [userId])).rejects.toMatchObject({ code: '23505' });
  });
});
