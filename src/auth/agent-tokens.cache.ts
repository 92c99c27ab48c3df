import type { AgentTokenRow } from './agent-tokens.repository.ts';
import {
  CredentialCache,
  type SessionCacheOptions,
  type SessionsRevoked,
} from './session-cache.ts';

/** What ended, as the revocation channel says it: some sessions, or credentials of one user. */
export type CredentialsRevoked = SessionsRevoked;

export type AgentTokenCacheOptions = SessionCacheOptions;

/**
 * Live agent tokens by token hash, so that an MCP request costs no PostgreSQL round trip for its
 * token — under the session cache's rules (CredentialCache): trusted only while this node hears
 * revocations, expiry checked on every hit. A revoked or discarded token is announced as
 * `{ userId }` of its owner, and every node forgets all of that user's tokens at once; a
 * `{ sessionIds }` announcement names sessions, never tokens, so it only keeps lookups begun
 * before it from being stored.
 */
export class AgentTokenCache extends CredentialCache<AgentTokenRow> {
  constructor(opts: AgentTokenCacheOptions) {
    super(opts, false);
  }
}
