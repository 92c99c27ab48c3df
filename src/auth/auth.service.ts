import { fakeKdfParams, type KdfParamsJson, kdfParamsFromJson } from '../crypto/passphrase.ts';
import { AppError, ConflictError, UnauthorizedError } from '../errors.ts';
import type { RateLimits } from '../http/rate-limit.ts';
import type { AuthRepository, UserRow } from './auth.repository.ts';
import { accountKdf, paramsAnswer } from './kdf.ts';
import type { RequestMeta, SessionService } from './session.service.ts';
import { DUMMY_AUTH_HASH, hashAuthKey, verifyAuthKey } from './tokens.ts';
import type { AuthAnswer, PublicUser } from './types.ts';

export type { IssuedSession, RequestMeta } from './session.service.ts';

/** Per-subject limits for unauthenticated endpoints (DESIGN §8): spend one point per request. */
export const LIMITS = {
  loginEmail: { points: 5, durationSeconds: 60 },
  loginIp: { points: 30, durationSeconds: 60 },
  paramsEmail: { points: 30, durationSeconds: 60 },
  paramsIp: { points: 120, durationSeconds: 60 },
  registerIp: { points: 20, durationSeconds: 3600 },
  recoverEmail: { points: 5, durationSeconds: 900 },
  recoverIp: { points: 20, durationSeconds: 900 },
  recoverChallengeIp: { points: 40, durationSeconds: 900 },
} as const;

export type AuthLimits = {
  [K in keyof typeof LIMITS]: { points: number; durationSeconds: number };
};

export type { PublicUser };

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

export interface AuthServiceOptions {
  serverKey: Uint8Array;
  /** Accept KDF costs below the default (tests and development only). */
  allowWeakKdf: boolean;
  limits: AuthLimits;
}

/** Accounts: register, log in, pre-login params. The server sees an authKey, never the passphrase. */
export class AuthService {
  constructor(
    private readonly users: AuthRepository,
    private readonly sessions: SessionService,
    private readonly rateLimits: RateLimits,
    private readonly opts: AuthServiceOptions,
  ) {}

  /**
   * The KDF params to log in with. Real and unknown emails go through `paramsAnswer`, and fakes
   * are drawn from the same ladder of costs accounts may choose, so the answer tells them apart
   * by neither bytes nor cost.
   */
  async kdfParamsFor(email: string, meta: RequestMeta): Promise<{ kdf: KdfParamsJson }> {
    await this.rateLimits.consume('params', this.opts.limits.paramsIp, [`ip:${meta.ip}`]);
    await this.rateLimits.consume('params-email', this.opts.limits.paramsEmail, [`email:${email}`]);
    // The fake is computed for every email, so real and unknown ones cost the same work.
    const [user, fake] = await Promise.all([
      this.users.userByEmail(email),
      fakeKdfParams(this.opts.serverKey, email),
    ]);
    const stored = user?.key_derivation_params;
    return paramsAnswer(stored ? kdfParamsFromJson(stored) : fake);
  }

  async register(
    input: { email: string; displayName: string | null; kdf: KdfParamsJson; authKey: Uint8Array },
    meta: RequestMeta,
  ): Promise<AuthAnswer> {
    const kdf = accountKdf(input.kdf, { allowWeak: this.opts.allowWeakKdf });
    await this.rateLimits.consume('register', this.opts.limits.registerIp, [`ip:${meta.ip}`]);
    const hash = await hashAuthKey(input.authKey);
    const user = await this.users.insertUser(input.email, input.displayName, hash, kdf);
    if (!user) throw new ConflictError('email-taken', 'An account with this email already exists.');
    const session = await this.sessions.issue(user.id, 'login', meta);
    return { user: toPublicUser(user), session };
  }

  async login(email: string, authKey: Uint8Array, meta: RequestMeta): Promise<AuthAnswer> {
    await this.rateLimits.consume('login', this.opts.limits.loginIp, [`ip:${meta.ip}`]);
    await this.rateLimits.consume('login-email', this.opts.limits.loginEmail, [`email:${email}`]);
    const user = await this.users.userByEmail(email);
    // Hash even for an unknown email so the response time does not tell accounts apart.
    const ok = await verifyAuthKey(authKey, user?.auth_key_hash ?? DUMMY_AUTH_HASH);
    if (!user?.auth_key_hash || !ok) throw new InvalidCredentialsError();
    const session = await this.sessions.issue(user.id, 'login', meta);
    return { user: toPublicUser(user), session };
  }

  async logout(sessionId: string): Promise<void> {
    await this.sessions.revoke(sessionId);
  }

  async me(userId: string): Promise<PublicUser> {
    const user = await this.users.userById(userId);
    if (!user) throw new UnauthorizedError();
    return toPublicUser(user);
  }
}
