import type { AgentTokenRow } from './agent-tokens.repository.ts';

/** What ended, as the revocation channel says it: some sessions, or credentials of one user. */
export type CredentialsRevoked = { sessionIds: string[] } | { userId: string };

export interface AgentTokenCacheOptions {
  /** How long a looked-up token is trusted without asking PostgreSQL again. */
  ttlMs: number;
  /** Entries kept; the oldest go first. */
  maxEntries: number;
  now?: () => number;
}

interface Entry {
  row: AgentTokenRow;
  at: number;
}

/**
 * A short in-process memory of live agent tokens, keyed by token hash, so that an MCP request
 * costs no PostgreSQL round trip for its token. The same rules as the session cache
 * (src/auth/session-cache.ts): trusted only while this node hears revocations — off until the
 * revocation channel is subscribed (`channelUp`), emptied and off the moment it drops
 * (`channelDown`). A revoked or discarded token is announced as `{ userId }` of its owner, and
 * every node forgets all of that user's tokens at once; a lookup that started before a
 * revocation (or a channel change) is not remembered, so it cannot put a revoked token back.
 * Expiry is checked on every hit, and `ttlMs` bounds how long a change this node was not told of
 * (a lost announcement, an edit in the database) can go unseen.
 */
export class AgentTokenCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every revocation and channel change: lookups begun before it are not stored. */
  private gen = 0;
  private on = false;
  private readonly now: () => number;

  constructor(private readonly opts: AgentTokenCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.on && this.opts.ttlMs > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Taken before a database lookup and handed back to `remember`. */
  generation(): number {
    return this.gen;
  }

  get(tokenHash: string): AgentTokenRow | undefined {
    if (!this.enabled) return undefined;
    const e = this.entries.get(tokenHash);
    if (!e) return undefined;
    const now = this.now();
    if (now - e.at >= this.opts.ttlMs || e.row.expires_at.getTime() <= now) {
      this.entries.delete(tokenHash);
      return undefined;
    }
    return e.row;
  }

  /** Stores a row read from PostgreSQL, unless anything was revoked since `generation`. */
  remember(tokenHash: string, row: AgentTokenRow, generation: number): void {
    if (!this.enabled || generation !== this.gen) return;
    if (this.entries.size >= this.opts.maxEntries && !this.entries.has(tokenHash)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(tokenHash, { row, at: this.now() });
  }

  /** A user's credentials changed (a token revoked or discarded, sessions ended): forget theirs. */
  forget(revoked: CredentialsRevoked): void {
    this.gen++;
    if (!('userId' in revoked)) return;
    for (const [k, e] of this.entries) if (e.row.user_id === revoked.userId) this.entries.delete(k);
  }

  /** The revocation channel is subscribed: revocations will be heard, caching may start. */
  channelUp(): void {
    this.gen++;
    this.on = true;
  }

  /** The revocation channel dropped: what it would have said is unknown, so forget everything. */
  channelDown(): void {
    this.gen++;
    this.on = false;
    this.entries.clear();
  }
}
