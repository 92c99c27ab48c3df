import type { SessionRow } from './session.repository.ts';

/** Which sessions ended: some by id, or every session (and agent token) of a user. */
export type SessionsRevoked = { sessionIds: string[] } | { userId: string };

export interface SessionCacheOptions {
  /** How long a looked-up credential is trusted without asking PostgreSQL again. */
  ttlMs: number;
  /** Entries kept; the oldest go first. */
  maxEntries: number;
  now?: () => number;
}

/** What a cached credential row must say: whose it is and until when. */
export interface CredentialRow {
  id: string;
  user_id: string;
  expires_at: Date;
}

interface Entry<Row> {
  row: Row;
  at: number;
}

/**
 * A short in-process memory of live credentials — sessions, agent tokens — keyed by token hash,
 * so that an authenticated request costs no PostgreSQL round trip. It is trusted only while this node hears revocations:
 * it starts off, is turned on by the revocation channel once subscribed (`channelUp`), and is
 * emptied and turned off the moment that channel drops (`channelDown`). A revocation — local or
 * from another node — removes its entries at once; a lookup that started before a revocation (or
 * before the channel dropped) is not remembered, so it cannot put a revoked credential back. Expiry
 * is checked on every hit, and `ttlMs` bounds how long a revocation whose announcement was lost
 * (e.g. its publish failed) can go unseen here.
 */
export class CredentialCache<Row extends CredentialRow> {
  private readonly entries = new Map<string, Entry<Row>>();
  /** Bumped by every revocation and channel change: lookups begun before it are not stored. */
  private gen = 0;
  private on = false;
  private readonly now: () => number;

  constructor(
    private readonly opts: SessionCacheOptions,
    /** Whether `{ sessionIds }` names rows of this cache (sessions) or only bumps it (tokens). */
    private readonly rowsAreSessions = true,
  ) {
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

  get(tokenHash: string): Row | undefined {
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
  remember(tokenHash: string, row: Row, generation: number): void {
    if (!this.enabled || generation !== this.gen) return;
    if (this.entries.size >= this.opts.maxEntries && !this.entries.has(tokenHash)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(tokenHash, { row, at: this.now() });
  }

  forget(revoked: SessionsRevoked): void {
    this.gen++;
    if ('sessionIds' in revoked) {
      if (!this.rowsAreSessions) return;
      const ids = new Set(revoked.sessionIds);
      for (const [k, e] of this.entries) if (ids.has(e.row.id)) this.entries.delete(k);
    } else {
      for (const [k, e] of this.entries)
        if (e.row.user_id === revoked.userId) this.entries.delete(k);
    }
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

/** Live sessions, by token hash. */
export class SessionCache extends CredentialCache<SessionRow> {}
