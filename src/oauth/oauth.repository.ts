import type { Pool, PoolClient } from '../db/pool.ts';

export interface ClientRow {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  client_uri: string | null;
}

export interface GrantRow {
  id: string;
  user_id: string;
  agent_name: string;
  client_id: string;
  client_name: string;
  redirect_uri: string;
  resource: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface CodeRow {
  grant_id: string;
  code_challenge: string;
  expires_at: Date;
  used_at: Date | null;
}

export interface TokenRow {
  grant_id: string;
  kind: 'access' | 'refresh';
  expires_at: Date;
  used_at: Date | null;
}

const INSERT_CLIENT = `
INSERT INTO oauth_clients (client_id, client_name, redirect_uris, client_uri, software_id, software_version)
VALUES ($1, $2, $3, $4, $5, $6)`;
const CLIENT_BY_ID = `
SELECT client_id, client_name, redirect_uris, client_uri FROM oauth_clients WHERE client_id = $1`;
const INSERT_GRANT = `
INSERT INTO oauth_grants (user_id, agent_name, client_id, client_name, redirect_uri, resource)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`;
const INSERT_CODE = `
INSERT INTO oauth_codes (code_hash, grant_id, code_challenge, expires_at)
VALUES ($1, $2, $3, NOW() + make_interval(secs => $4))`;
// Spending a code is one statement: two concurrent redemptions cannot both see it unused.
const SPEND_CODE = `
UPDATE oauth_codes SET used_at = NOW() WHERE code_hash = $1 AND used_at IS NULL
RETURNING grant_id, code_challenge, expires_at, used_at`;
const CODE_BY_HASH = `
SELECT grant_id, code_challenge, expires_at, used_at FROM oauth_codes WHERE code_hash = $1`;
const GRANT_BY_ID = `
SELECT id, user_id, agent_name, client_id, client_name, redirect_uri, resource, created_at,
       last_used_at, revoked_at
FROM oauth_grants WHERE id = $1`;
const INSERT_TOKEN = `
INSERT INTO oauth_tokens (token_hash, grant_id, kind, expires_at)
VALUES ($1, $2, $3, NOW() + make_interval(secs => $4))`;
const SPEND_REFRESH = `
UPDATE oauth_tokens SET used_at = NOW()
WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NULL
RETURNING grant_id, kind, expires_at, used_at`;
const TOKEN_BY_HASH = `
SELECT grant_id, kind, expires_at, used_at FROM oauth_tokens WHERE token_hash = $1`;
const LIVE_ACCESS = `
SELECT g.id, g.user_id, g.agent_name, g.resource, t.expires_at
FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id
WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > NOW() AND g.revoked_at IS NULL`;
const TOUCH_GRANT = `
UPDATE oauth_grants SET last_used_at = NOW()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < NOW() - INTERVAL '1 minute')`;
const REVOKE_GRANT = `
UPDATE oauth_grants SET revoked_at = NOW(), revoked_reason = $2
WHERE id = $1 AND revoked_at IS NULL`;
const DELETE_GRANT_TOKENS = `DELETE FROM oauth_tokens WHERE grant_id = $1`;
const REVOKE_USER_GRANT = `
UPDATE oauth_grants SET revoked_at = NOW(), revoked_reason = 'disconnected'
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id`;
const GRANTS_OF_USER = `
SELECT id, user_id, agent_name, client_id, client_name, redirect_uri, resource, created_at,
       last_used_at, revoked_at
FROM oauth_grants WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 200`;

export interface NewClient {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  clientUri: string | null;
  softwareId: string | null;
  softwareVersion: string | null;
}

/** The only SQL of the authorization server. */
export class OAuthRepository {
  constructor(private readonly pool: Pool) {}

  async insertClient(c: NewClient): Promise<void> {
    await this.pool.query(INSERT_CLIENT, [
      c.clientId,
      c.clientName,
      c.redirectUris,
      c.clientUri,
      c.softwareId,
      c.softwareVersion,
    ]);
  }

  async client(clientId: string): Promise<ClientRow | undefined> {
    return (await this.pool.query<ClientRow>(CLIENT_BY_ID, [clientId])).rows[0];
  }

  /** The consent's grant and its first code, together or not at all. */
  async insertGrantWithCode(
    g: Omit<GrantRow, 'id' | 'created_at' | 'last_used_at' | 'revoked_at'>,
    code: { hash: Buffer; challenge: string; ttlSeconds: number },
  ): Promise<string> {
    return this.tx(async (db) => {
      const { rows } = await db.query<{ id: string }>(INSERT_GRANT, [
        g.user_id,
        g.agent_name,
        g.client_id,
        g.client_name,
        g.redirect_uri,
        g.resource,
      ]);
      const id = (rows[0] as { id: string }).id;
      await db.query(INSERT_CODE, [code.hash, id, code.challenge, code.ttlSeconds]);
      return id;
    });
  }

  async spendCode(hash: Buffer): Promise<CodeRow | undefined> {
    return (await this.pool.query<CodeRow>(SPEND_CODE, [hash])).rows[0];
  }

  async code(hash: Buffer): Promise<CodeRow | undefined> {
    return (await this.pool.query<CodeRow>(CODE_BY_HASH, [hash])).rows[0];
  }

  async grant(id: string): Promise<GrantRow | undefined> {
    return (await this.pool.query<GrantRow>(GRANT_BY_ID, [id])).rows[0];
  }

  async insertTokens(
    grantId: string,
    access: { hash: Buffer; ttlSeconds: number },
    refresh: { hash: Buffer; ttlSeconds: number },
  ): Promise<void> {
    await this.tx(async (db) => {
      await db.query(INSERT_TOKEN, [access.hash, grantId, 'access', access.ttlSeconds]);
      await db.query(INSERT_TOKEN, [refresh.hash, grantId, 'refresh', refresh.ttlSeconds]);
    });
  }

  async spendRefresh(hash: Buffer): Promise<TokenRow | undefined> {
    return (await this.pool.query<TokenRow>(SPEND_REFRESH, [hash])).rows[0];
  }

  async token(hash: Buffer): Promise<TokenRow | undefined> {
    return (await this.pool.query<TokenRow>(TOKEN_BY_HASH, [hash])).rows[0];
  }

  async liveAccess(hash: Buffer) {
    return (
      await this.pool.query<{
        id: string;
        user_id: string;
        agent_name: string;
        resource: string;
        expires_at: Date;
      }>(LIVE_ACCESS, [hash])
    ).rows[0];
  }

  async touchGrant(id: string): Promise<void> {
    await this.pool.query(TOUCH_GRANT, [id]);
  }

  /** Revokes the grant and drops every token issued under it. */
  async revokeGrant(id: string, reason: string): Promise<void> {
    await this.tx(async (db) => {
      await db.query(REVOKE_GRANT, [id, reason]);
      await db.query(DELETE_GRANT_TOKENS, [id]);
    });
  }

  async revokeUserGrant(id: string, userId: string): Promise<boolean> {
    return this.tx(async (db) => {
      const { rowCount } = await db.query(REVOKE_USER_GRANT, [id, userId]);
      if (!rowCount) return false;
      await db.query(DELETE_GRANT_TOKENS, [id]);
      return true;
    });
  }

  async grantsOfUser(userId: string): Promise<GrantRow[]> {
    return (await this.pool.query<GrantRow>(GRANTS_OF_USER, [userId])).rows;
  }

  private async tx<T>(fn: (db: PoolClient) => Promise<T>): Promise<T> {
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      const out = await fn(db);
      await db.query('COMMIT');
      return out;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      db.release();
    }
  }
}
