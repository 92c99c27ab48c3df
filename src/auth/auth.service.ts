import type { Logger } from 'pino';
import {
  checkKdfParams,
  fakeKdfParams,
  type KdfParamsJson,
  kdfParamsFromJson,
  kdfParamsToJson,
} from '../crypto/passphrase.ts';
import type { Pool } from '../db/pool.ts';
import { AppError, ConflictError, UnauthorizedError, ValidationError } from '../errors.ts';
import type { RateLimits } from '../http/rate-limit.ts';
import { AuthRepository, type SessionRow, type UserRow } from './auth.repository.ts';
import {
  DUMMY_AUTH_HASH,
  hashAuthKey,
  hashToken,
  hmac,
  newToken,
  verifyAuthKey,
} from './tokens.ts';

export const SESSION_TTL_SECONDS = 30 * 24 * 3600;
export const RECOVERY_TTL_SECONDS = 15 * 60;

/** Per-subject limits for unauthenticated endpoints (DESIGN §8): spend one point per request. */
export const LIMITS = {
  loginEmail: { points: 5, durationSeconds: 60 },
  loginIp: { points: 30, durationSeconds: 60 },
  paramsEmail: { points: 30, durationSeconds: 60 },
  paramsIp: { points: 120, durationSeconds: 60 },
  registerIp: { points: 20, durationSeconds: 3600 },
  recoverEmail: { points: 5, durationSeconds: 900 },
  recoverIp: { points: 20, durationSeconds: 900 },
} as const;

export type AuthLimits = {
  [K in keyof typeof LIMITS]: { points: number; durationSeconds: number };
};

export interface PublicUser {
  id: string;
  email: string;
  displayName: string | null;
  encryptionEnabled: boolean;
  createdAt: string;
}

export interface IssuedSession {
  token: string;
  csrfToken: string;
  sessionId: string;
  purpose: 'login' | 'recovery';
  expiresAt: string;
}

export interface RequestMeta {
  ip: string;
  userAgent: string | null;
}

export class InvalidCredentialsError extends AppError {
  constructor() {
    super(401, 'invalid-credentials', 'Invalid credentials', 'The email or passphrase is wrong.');
  }
}

export function toPublicUser(u: UserRow): PublicUser {
  return {
    id: u.id,
    email: u.email,
    displayName: u.display_name,
    encryptionEnabled: u.encryption_enabled,
    createdAt: u.created_at.toISOString(),
  };
}

/** Accounts and sessions. The server sees an authKey derived from the passphrase, never the passphrase. */
export class AuthService {
  readonly repo: AuthRepository;
  private readonly touching = new Set<string>();

  constructor(
    readonly pool: Pool,
    private readonly serverKey: Uint8Array,
    readonly rateLimits: RateLimits,
    private readonly opts: {
      allowWeakKdf: boolean;
      logger: Logger;
      limits: AuthLimits;
      /** After a revocation commits: the WebSocket hubs of every node close those sessions' sockets. */
      onSessionsRevoked?: (revoked: { sessionIds: string[] } | { userId: string }) => Promise<void>;
    },
  ) {
    this.repo = new AuthRepository(pool);
  }

  /** The CSRF token for a cookie session is bound to it and needs no storage. */
  get limits(): AuthLimits {
    return this.opts.limits;
  }

  csrfTokenFor(sessionId: string): string {
    return hmac(this.serverKey, 'csrf', sessionId).toString('base64url');
  }

  checkKdf(json: KdfParamsJson): KdfParamsJson {
    try {
      const params = kdfParamsFromJson(json);
      checkKdfParams(params, { allowWeak: this.opts.allowWeakKdf });
      return kdfParamsToJson(params);
    } catch (err) {
      throw new ValidationError([{ path: 'kdf', message: (err as Error).message }]);
    }
  }

  async kdfParamsFor(email: string, meta: RequestMeta): Promise<KdfParamsJson> {
    await this.rateLimits.consume('params', this.opts.limits.paramsIp, [`ip:${meta.ip}`]);
    await this.rateLimits.consume('params-email', this.opts.limits.paramsEmail, [`email:${email}`]);
    const user = await this.repo.userByEmail(email);
    if (user?.key_derivation_params) return user.key_derivation_params;
    return kdfParamsToJson(await fakeKdfParams(this.serverKey, email));
  }

  async register(
    input: { email: string; displayName: string | null; kdf: KdfParamsJson; authKey: Uint8Array },
    meta: RequestMeta,
  ): Promise<{ user: PublicUser; session: IssuedSession }> {
    const kdf = this.checkKdf(input.kdf);
    await this.rateLimits.consume('register', this.opts.limits.registerIp, [`ip:${meta.ip}`]);
    const hash = await hashAuthKey(input.authKey);
    const user = await this.repo.insertUser(input.email, input.displayName, hash, kdf);
    if (!user) throw new ConflictError('email-taken', 'An account with this email already exists.');
    const session = await this.issueSession(user.id, 'login', meta);
    return { user: toPublicUser(user), session };
  }

  async login(email: string, authKey: Uint8Array, meta: RequestMeta) {
    await this.rateLimits.consume('login', this.opts.limits.loginIp, [`ip:${meta.ip}`]);
    await this.rateLimits.consume('login-email', this.opts.limits.loginEmail, [`email:${email}`]);
    const user = await this.repo.userByEmail(email);
    // Hash even for an unknown email so the response time does not tell accounts apart.
    const ok = await verifyAuthKey(authKey, user?.auth_key_hash ?? DUMMY_AUTH_HASH);
    if (!user?.auth_key_hash || !ok) throw new InvalidCredentialsError();
    const session = await this.issueSession(user.id, 'login', meta);
    return { user: toPublicUser(user), session };
  }

  async issueSession(
    userId: string,
    purpose: 'login' | 'recovery',
    meta: RequestMeta,
  ): Promise<IssuedSession> {
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

  /** The live session behind a token, or 401. Touches `last_seen_at` at most once a minute. */
  async authenticateSession(token: string): Promise<SessionRow> {
    const session = await this.repo.liveSession(hashToken(token));
    if (!session) throw new UnauthorizedError('The session is invalid, expired or revoked.');
    // One UPDATE per session at a time, even with many requests in flight on it.
    if (Date.now() - session.last_seen_at.getTime() > 60_000 && !this.touching.has(session.id)) {
      this.touching.add(session.id);
      this.repo
        .touchSession(session.id)
        .catch((err: Error) =>
          this.opts.logger.warn({ err: { message: err.message } }, 'could not touch session'),
        )
        .finally(() => this.touching.delete(session.id));
    }
    return session;
  }

  async logout(sessionId: string): Promise<void> {
    await this.repo.revokeSession(sessionId);
    await this.sessionsRevoked({ sessionIds: [sessionId] });
  }

  /** Call after any revocation committed (logout, passphrase change). */
  async sessionsRevoked(revoked: { sessionIds: string[] } | { userId: string }): Promise<void> {
    await this.opts.onSessionsRevoked?.(revoked);
  }

  /** Which of these sessions are still live (the WebSocket hub asks, in one query). */
  async liveSessionIds(ids: string[]): Promise<Set<string>> {
    return this.repo.liveSessionIds(ids);
  }

  async me(userId: string): Promise<PublicUser> {
    const user = await this.repo.userById(userId);
    if (!user) throw new UnauthorizedError();
    return toPublicUser(user);
  }
}
