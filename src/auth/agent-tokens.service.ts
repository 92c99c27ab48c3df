import { UnauthorizedError } from '../errors.ts';
import type { AgentTokenCache } from './agent-tokens.cache.ts';
import type { AgentTokenRepository, AgentTokenRow } from './agent-tokens.repository.ts';
import { hashToken, newToken, tokenKind } from './tokens.ts';
import type { AgentTokenView } from './types.ts';

export type { AgentTokenView };

/** Who an agent token speaks for: one user, one agent name. */
export interface AgentPrincipal {
  tokenId: string;
  userId: string;
  agentName: string;
  expiresAt: Date;
}

function view(r: AgentTokenRow): AgentTokenView {
  return {
    id: r.id,
    agentName: r.agent_name,
    label: r.label,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    revokedAt: r.revoked_at?.toISOString() ?? null,
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    status: r.revoked_at ? 'revoked' : r.expires_at.getTime() <= Date.now() ? 'expired' : 'active',
  };
}

function principal(row: AgentTokenRow): AgentPrincipal {
  return {
    tokenId: row.id,
    userId: row.user_id,
    agentName: row.agent_name,
    expiresAt: row.expires_at,
  };
}

/** Bearer tokens (`vta_…`) a user issues to one agent name: shown once, stored hashed, revocable. */
export class AgentTokenService {
  constructor(
    private readonly repo: AgentTokenRepository,
    private readonly opts: {
      /**
       * Live tokens remembered for a few seconds (see AgentTokenCache); without it every call
       * reads PostgreSQL. The revocation channel turns it on and off.
       */
      cache?: AgentTokenCache;
      /**
       * After a token of `userId` was revoked or discarded: every node forgets that user's;
       * resolves once the subscribed nodes confirmed (ChatEvents.publishSessionsRevoked).
       */
      onRevoked?: (revoked: { userId: string }) => Promise<void>;
    } = {},
  ) {}

  /** The in-process memory of live tokens, if this service has one (read-only use). */
  get cache(): AgentTokenCache | undefined {
    return this.opts.cache;
  }

  /** This node refuses the user's revoked tokens before anyone hears of it; then the others. */
  private async revoked(userId: string): Promise<void> {
    this.opts.cache?.forget({ userId });
    await this.opts.onRevoked?.({ userId });
  }

  async issue(userId: string, agentName: string, days: number, label: string | null) {
    const { token, hash } = newToken('agent');
    const row = await this.repo.insertAgentToken({
      userId,
      agentName,
      label,
      tokenHash: hash,
      days,
    });
    return { ...view(row), token };
  }

  /**
   * A token the worker mints for one agent run: minutes, not days, and deleted when the run ends
   * (`discardRunToken`), so it never shows up in the owner's token list for long.
   */
  async mintForRun(userId: string, agentName: string, seconds: number) {
    const { token, hash } = newToken('agent');
    const row = await this.repo.insertRunToken(userId, agentName, hash, seconds);
    return { token, tokenId: row.id, expiresAt: row.expires_at };
  }

  async discardRunToken(userId: string, tokenId: string): Promise<void> {
    await this.repo.deleteAgentToken(tokenId, userId);
    await this.revoked(userId);
  }

  async list(userId: string): Promise<AgentTokenView[]> {
    return (await this.repo.agentTokensOfUser(userId)).map(view);
  }

  /** False when no such token belongs to the user (the caller answers 404 either way). */
  async revoke(userId: string, tokenId: string): Promise<boolean> {
    const done = await this.repo.revokeAgentToken(tokenId, userId);
    if (done) await this.revoked(userId);
    return done;
  }

  /**
   * Checked on every call. With the cache on, a token seen in the last few seconds is served
   * from memory (its expiry checked each time); a revocation takes effect at once on every node
   * that hears the revocation channel, and the cache is off on any node that does not.
   */
  async authenticate(token: string): Promise<AgentPrincipal> {
    if (tokenKind(token) !== 'agent') throw new UnauthorizedError('Not an agent token.');
    const hash = hashToken(token);
    const cache = this.opts.cache;
    const key = cache?.enabled ? hash.toString('base64') : undefined;
    const cached = key ? cache!.get(key) : undefined;
    if (cached) return principal(cached);
    const generation = cache?.generation() ?? 0;
    const row = await this.repo.liveAgentToken(hash);
    if (!row) throw new UnauthorizedError('The agent token is invalid, expired or revoked.');
    if (key) cache!.remember(key, row, generation);
    return principal(row);
  }
}
