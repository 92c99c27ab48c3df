import { createHash, randomBytes } from 'node:crypto';
import type { AgentPrincipal } from '../auth/agent-tokens.service.ts';
import { hashToken, safeEqual } from '../auth/tokens.ts';
import {
  type ClientMetadata,
  isMetadataUrl,
  type MetadataFetcher,
  parseClientMetadata,
  redirectMatches,
} from './clients.ts';
import { OAuthError } from './errors.ts';
import type { GrantRow, OAuthRepository } from './oauth.repository.ts';

export const CODE_TTL_SECONDS = 60;
const TOKEN_RE = /^vt[ocr]_[A-Za-z0-9_-]{43}$/;
const AGENT_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,99}$/;
const PKCE_RE = /^[A-Za-z0-9._~-]{43,128}$/;

export type OAuthTokenKind = 'code' | 'access' | 'refresh';
const PREFIX: Record<OAuthTokenKind, string> = { code: 'vtc_', access: 'vto_', refresh: 'vtr_' };

function newSecret(kind: OAuthTokenKind) {
  const value = PREFIX[kind] + randomBytes(32).toString('base64url');
  return { value, hash: hashToken(value) };
}

function kindOf(token: string): OAuthTokenKind | undefined {
  if (!TOKEN_RE.test(token)) return undefined;
  return token.startsWith('vtc_') ? 'code' : token.startsWith('vto_') ? 'access' : 'refresh';
}

export function isOAuthAccessToken(token: string): boolean {
  return kindOf(token) === 'access';
}

/** What a client asked for in /authorize, validated. */
export interface AuthorizationRequest {
  clientId: string;
  clientName: string;
  redirectUri: string;
  codeChallenge: string;
  state: string | undefined;
  resource: string;
  scope: string | undefined;
}

export interface ConnectedClient {
  id: string;
  clientId: string;
  clientName: string;
  agentName: string;
  redirectHost: string;
  resource: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
}

export interface OAuthServiceOptions {
  accessTtlSeconds: number;
  refreshTtlDays: number;
}

/**
 * Vutler's authorization server for its own MCP endpoint: public clients, authorization code with
 * PKCE S256, tokens bound to the one resource they were asked for, refresh rotation with reuse
 * detection. Consent names an agent; the gateway then treats the token as that agent's.
 */
export class OAuthService {
  constructor(
    private readonly repo: OAuthRepository,
    private readonly fetcher: MetadataFetcher,
    private readonly opts: OAuthServiceOptions,
  ) {}

  /** RFC 7591: a public client; its id is random and its metadata is the validated subset. */
  async register(body: unknown) {
    const meta = parseClientMetadata(body);
    const clientId = `vcl_${randomBytes(16).toString('base64url')}`;
    const clientName = meta.client_name ?? new URL(meta.redirect_uris[0] as string).host;
    await this.repo.insertClient({
      clientId,
      clientName,
      redirectUris: meta.redirect_uris,
      clientUri: meta.client_uri ?? null,
      softwareId: meta.software_id ?? null,
      softwareVersion: meta.software_version ?? null,
    });
    return {
      client_id: clientId,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      client_name: clientName,
      redirect_uris: meta.redirect_uris,
      ...(meta.client_uri ? { client_uri: meta.client_uri } : {}),
      token_endpoint_auth_method: 'none' as const,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
  }

  /** A registered client or a fetched metadata document; `invalid_client` otherwise. */
  async client(clientId: string): Promise<{ name: string; redirectUris: string[] }> {
    if (isMetadataUrl(clientId)) {
      const meta: ClientMetadata & { client_name: string } = await this.fetcher.fetch(clientId);
      return { name: meta.client_name, redirectUris: meta.redirect_uris };
    }
    const row = clientId.length <= 64 ? await this.repo.client(clientId) : undefined;
    if (!row) throw new OAuthError('invalid_client', 'Unknown client_id.', 401);
    return { name: row.client_name, redirectUris: row.redirect_uris };
  }

  /**
   * Checks everything /authorize receives. Errors before the redirect URI is known good are
   * thrown with `redirectable: false` so the caller shows them instead of redirecting.
   */
  async checkAuthorization(
    q: Record<string, string | undefined>,
    expectedResource: string,
  ): Promise<AuthorizationRequest> {
    const clientId = q.client_id;
    if (!clientId) throw unredirectable('invalid_request', 'client_id is required.');
    let client: { name: string; redirectUris: string[] };
    try {
      client = await this.client(clientId);
    } catch (err) {
      if (err instanceof OAuthError) throw unredirectable(err.code, err.description);
      throw err;
    }
    const redirectUri =
      q.redirect_uri ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
    if (!redirectUri || !client.redirectUris.some((r) => redirectMatches(r, redirectUri)))
      throw unredirectable(
        'invalid_request',
        'redirect_uri is missing or is not one the client registered.',
      );
    if (q.response_type !== 'code')
      throw new OAuthError('unsupported_response_type', 'Only response_type=code is supported.');
    if (q.code_challenge_method !== 'S256')
      throw new OAuthError('invalid_request', 'PKCE is required with code_challenge_method=S256.');
    if (!q.code_challenge || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge))
      throw new OAuthError('invalid_request', 'code_challenge must be a base64url SHA-256 digest.');
    if (!q.resource)
      throw new OAuthError(
        'invalid_target',
        `resource is required; this server serves ${expectedResource}.`,
      );
    if (normalizeResource(q.resource) !== expectedResource)
      throw new OAuthError(
        'invalid_target',
        `This server only issues tokens for ${expectedResource}.`,
      );
    if (q.state !== undefined && q.state.length > 1000)
      throw new OAuthError('invalid_request', 'state is too long.');
    return {
      clientId,
      clientName: client.name,
      redirectUri,
      codeChallenge: q.code_challenge,
      state: q.state,
      resource: expectedResource,
      scope: q.scope,
    };
  }

  /** The person consented: a grant for the chosen agent name and a one-minute code. */
  async approve(userId: string, agentName: string, req: AuthorizationRequest): Promise<string> {
    if (!AGENT_NAME_RE.test(agentName))
      throw new OAuthError(
        'invalid_request',
        'The agent name is 1-100 lowercase letters, digits, ".", "_" or "-".',
      );
    const code = newSecret('code');
    await this.repo.insertGrantWithCode(
      {
        user_id: userId,
        agent_name: agentName,
        client_id: req.clientId,
        client_name: req.clientName,
        redirect_uri: req.redirectUri,
        resource: req.resource,
      },
      { hash: code.hash, challenge: req.codeChallenge, ttlSeconds: CODE_TTL_SECONDS },
    );
    return code.value;
  }

  async exchangeCode(
    p: Record<string, string | undefined>,
    expectedResource: string,
  ): Promise<TokenResponse> {
    const { code, code_verifier: verifier, redirect_uri: redirectUri, client_id: clientId } = p;
    if (!code || kindOf(code) !== 'code')
      throw new OAuthError('invalid_grant', 'The authorization code is invalid.');
    if (!verifier || !PKCE_RE.test(verifier))
      throw new OAuthError('invalid_request', 'code_verifier is required (PKCE).');
    if (!clientId) throw new OAuthError('invalid_request', 'client_id is required.');
    const hash = hashToken(code);
    const spent = await this.repo.spendCode(hash);
    if (!spent) {
      // A replayed code means it leaked: revoke what it granted (RFC 6749 §4.1.2).
      const seen = await this.repo.code(hash);
      if (seen) await this.repo.revokeGrant(seen.grant_id, 'code_replayed');
      throw new OAuthError('invalid_grant', 'The authorization code was already used.');
    }
    if (spent.expires_at.getTime() <= Date.now())
      throw new OAuthError('invalid_grant', 'The authorization code has expired.');
    const grant = await this.liveGrant(spent.grant_id);
    if (grant.client_id !== clientId)
      throw new OAuthError('invalid_grant', 'The code was issued to another client.');
    if (redirectUri !== undefined && redirectUri !== grant.redirect_uri)
      throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorization request.');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!safeEqual(Buffer.from(challenge), Buffer.from(spent.code_challenge)))
      throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge.');
    this.checkResource(p.resource, grant, expectedResource);
    return this.issue(grant.id);
  }

  async refresh(
    p: Record<string, string | undefined>,
    expectedResource: string,
  ): Promise<TokenResponse> {
    const token = p.refresh_token;
    if (!token || kindOf(token) !== 'refresh')
      throw new OAuthError('invalid_grant', 'The refresh token is invalid.');
    if (!p.client_id) throw new OAuthError('invalid_request', 'client_id is required.');
    const hash = hashToken(token);
    const spent = await this.repo.spendRefresh(hash);
    if (!spent) {
      const seen = await this.repo.token(hash);
      if (seen?.kind === 'refresh') await this.repo.revokeGrant(seen.grant_id, 'refresh_reused');
      throw new OAuthError('invalid_grant', 'The refresh token is invalid, expired or revoked.');
    }
    if (spent.expires_at.getTime() <= Date.now())
      throw new OAuthError('invalid_grant', 'The refresh token has expired.');
    const grant = await this.liveGrant(spent.grant_id);
    if (grant.client_id !== p.client_id)
      throw new OAuthError('invalid_grant', 'The refresh token was issued to another client.');
    this.checkResource(p.resource, grant, expectedResource);
    return this.issue(grant.id);
  }

  /** RFC 7009: always "ok" for the caller; a known token's grant is revoked as a whole. */
  async revoke(token: string | undefined): Promise<void> {
    if (!token || !kindOf(token)) return;
    const row = await this.repo.token(hashToken(token));
    if (row) await this.repo.revokeGrant(row.grant_id, 'revoked');
  }

  /** For /mcp: who an access token speaks for, if it is live and bound to this resource. */
  async authenticate(token: string, expectedResource: string): Promise<AgentPrincipal | undefined> {
    if (kindOf(token) !== 'access') return undefined;
    const row = await this.repo.liveAccess(hashToken(token));
    if (!row || row.resource !== expectedResource) return undefined;
    await this.repo.touchGrant(row.id);
    return {
      tokenId: row.id,
      userId: row.user_id,
      agentName: row.agent_name,
      expiresAt: row.expires_at,
    };
  }

  async connected(userId: string): Promise<ConnectedClient[]> {
    return (await this.repo.grantsOfUser(userId)).map((g) => ({
      id: g.id,
      clientId: g.client_id,
      clientName: g.client_name,
      agentName: g.agent_name,
      redirectHost: redirectHost(g.redirect_uri),
      resource: g.resource,
      createdAt: g.created_at.toISOString(),
      lastUsedAt: g.last_used_at?.toISOString() ?? null,
    }));
  }

  async disconnect(userId: string, grantId: string): Promise<boolean> {
    return this.repo.revokeUserGrant(grantId, userId);
  }

  private async liveGrant(id: string): Promise<GrantRow> {
    const grant = await this.repo.grant(id);
    if (!grant || grant.revoked_at)
      throw new OAuthError('invalid_grant', 'The authorization was revoked.');
    return grant;
  }

  private checkResource(asked: string | undefined, grant: GrantRow, expected: string) {
    if (asked === undefined) return;
    const r = normalizeResource(asked);
    if (r !== grant.resource || r !== expected)
      throw new OAuthError(
        'invalid_target',
        'The token can only be issued for the consented resource.',
      );
  }

  private async issue(grantId: string): Promise<TokenResponse> {
    const access = newSecret('access');
    const refresh = newSecret('refresh');
    await this.repo.insertTokens(
      grantId,
      { hash: access.hash, ttlSeconds: this.opts.accessTtlSeconds },
      { hash: refresh.hash, ttlSeconds: this.opts.refreshTtlDays * 86_400 },
    );
    return {
      access_token: access.value,
      token_type: 'Bearer',
      expires_in: this.opts.accessTtlSeconds,
      refresh_token: refresh.value,
    };
  }
}

export function redirectHost(uri: string): string {
  try {
    const u = new URL(uri);
    return u.host || `${u.protocol}`;
  } catch {
    return uri;
  }
}

/** A resource indicator compared as the SDK sends it: no fragment, no trailing slash. */
export function normalizeResource(v: string): string {
  try {
    const u = new URL(v);
    u.hash = '';
    return u.href.replace(/\/$/, '');
  } catch {
    return v;
  }
}

export class UnredirectableError extends OAuthError {}
function unredirectable(code: OAuthError['code'], description: string): OAuthError {
  return new UnredirectableError(code, description);
}
