import { UnauthorizedError } from '../errors.ts';
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

/** Bearer tokens (`vta_…`) a user issues to one agent name: shown once, stored hashed, revocable. */
export class AgentTokenService {
  constructor(private readonly repo: AgentTokenRepository) {}

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
  }

  async list(userId: string): Promise<AgentTokenView[]> {
    return (await this.repo.agentTokensOfUser(userId)).map(view);
  }

  /** False when no such token belongs to the user (the caller answers 404 either way). */
  async revoke(userId: string, tokenId: string): Promise<boolean> {
    return this.repo.revokeAgentToken(tokenId, userId);
  }

  /** Checked on every call: revocation takes effect at once, there is no cache. */
  async authenticate(token: string): Promise<AgentPrincipal> {
    if (tokenKind(token) !== 'agent') throw new UnauthorizedError('Not an agent token.');
    const row = await this.repo.liveAgentToken(hashToken(token));
    if (!row) throw new UnauthorizedError('The agent token is invalid, expired or revoked.');
    return {
      tokenId: row.id,
      userId: row.user_id,
      agentName: row.agent_name,
      expiresAt: row.expires_at,
    };
  }
}
