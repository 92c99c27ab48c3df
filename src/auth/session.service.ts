import type { Logger } from 'pino';
import { UnauthorizedError } from '../errors.ts';
import type { SessionRepository, SessionRow } from './session.repository.ts';
import type { SessionCache, SessionsRevoked } from './session-cache.ts';
import { hashToken, hmac, newToken } from './tokens.ts';
import type { IssuedSession } from './types.ts';

export type { SessionsRevoked };

export const SESSION_TTL_SECONDS = 30 * 24 * 3600;
export const RECOVERY_TTL_SECONDS = 15 * 60;

export type SessionPurpose = IssuedSession['purpose'];
export type { IssuedSession };

export interface RequestMeta {
  ip: string;
  userAgent: string | null;
}

/**
 * Sessions of people: issue, authenticate, revoke, and tell the WebSocket hub which of its
 * sessions are still live. Tokens are stored only as SHA-256 hashes.
 */
export class SessionService {
  private readonly touching = new Set<string>();

  constructor(
    private readonly repo: SessionRepository,
    private readonly opts: {
      serverKey: Uint8Array;
      logger: Logger;
      /**
       * After a revocation commits: every node forgets those sessions and its hub closes their
       * sockets; resolves once the subscribed nodes confirmed (ChatEvents.publishSessionsRevoked).
       */
      onRevoked?: (revoked: SessionsRevoked) => Promise<void>;
      /**
       * Live sessions remembered for a few seconds (see SessionCache); without it every
       * request reads PostgreSQL. The revocation channel turns it on and off.
       */
      cache?: SessionCache;
    },
  ) {}

  /** The in-process memory of live sessions, if this service has one (read-only use). */
  get cache(): SessionCache | undefined {
    return this.opts.cache;
  }

  /** The CSRF token for a cookie session is bound to it and needs no storage. */
  csrfTokenFor(sessionId: string): string {
    return hmac(this.opts.serverKey, 'csrf', sessionId).toString('base64url');
  }

  async issue(userId: string, purpose: SessionPurpose, meta: RequestMeta): Promise<IssuedSession> {
    const { token, hash } = newToken('session');
    const row = await this.repo.insertSession({
      userId,
      tokenHash: hash,
      purpose,
      userAgent: meta.userAgent?.slice(0, 500) ?? null,
      ip: meta.ip === 'unknown' ? null : meta.ip,
      ttlSeconds: purpose === 'login' ? SESSION_TTL_SECONDS : RECOVERY_TTL_SECONDS,
    });
    return {
      token,
      csrfToken: this.csrfTokenFor(row.id),
      sessionId: row.id,
      purpose,
      expiresAt: row.expires_at.toISOString(),
    };
  }

  /**
   * The live session behind a token, or 401. Touches `last_seen_at` at most once a minute.
   * `fresh` skips the cache (a WebSocket hello, which then lives on: read PostgreSQL).
   */
  async authenticate(token: string, opts: { fresh?: boolean } = {}): Promise<SessionRow> {
    const hash = hashToken(token);
    const cache = this.opts.cache;
    const key = cache?.enabled ? hash.toString('base64') : undefined;
    let session = key && !opts.fresh ? cache!.get(key) : undefined;
    if (!session) {
      const generation = cache?.generation() ?? 0;
      session = await this.repo.liveSession(hash);
      if (!session) throw new UnauthorizedError('The session is invalid, expired or revoked.');
      if (key) cache!.remember(key, session, generation);
    }
    // One UPDATE per session at a time, even with many requests in flight on it.
    if (Date.now() - session.last_seen_at.getTime() > 60_000 && !this.touching.has(session.id)) {
      this.touching.add(session.id);
      // The cached row (the same object) stops asking for another touch for a minute.
      session.last_seen_at = new Date();
      this.repo
        .touchSession(session.id)
        .catch((err: Error) =>
          this.opts.logger.warn({ err: { message: err.message } }, 'could not touch session'),
        )
        .finally(() => this.touching.delete(session.id));
    }
    return session;
  }

  /** Of `ids`, those that are neither revoked nor expired (one query). */
  liveSessionIds(ids: string[]): Promise<Set<string>> {
    return this.repo.liveSessionIds(ids);
  }

  async revoke(sessionId: string): Promise<void> {
    await this.repo.revokeSession(sessionId);
    await this.revoked({ sessionIds: [sessionId] });
  }

  /**
   * Announces revocations committed elsewhere (a passphrase change revokes every session of the
   * user in the same statement as the change), so live sockets close at once on every node.
   */
  async revoked(revoked: SessionsRevoked): Promise<void> {
    // This node refuses the revoked sessions before anyone hears of it.
    this.opts.cache?.forget(revoked);
    await this.opts.onRevoked?.(revoked);
  }
}
