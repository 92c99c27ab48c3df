import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import type { SessionService } from './session.service.ts';
import { safeEqual, tokenKind } from './tokens.ts';

export const SESSION_COOKIE = 'vutler_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionAuth {
  userId: string;
  sessionId: string;
  purpose: 'login' | 'recovery';
  viaCookie: boolean;
}

export type AuthEnv = { Variables: { auth: SessionAuth } };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The bearer token of the Authorization header, if it is one. */
export function bearerToken(c: Context): string | undefined {
  const header = c.req.header('authorization');
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new UnauthorizedError('The Authorization header must be "Bearer <token>".');
  return m[1];
}

/**
 * Authenticates a person's session from `Authorization: Bearer vts_…` or the HttpOnly cookie.
 * Cookie-authenticated writes must echo the session's CSRF token in `x-csrf-token`: a cross-site
 * form can make the browser send the cookie but cannot read the token. Recovery sessions are
 * accepted only where `purposes` says so.
 */
export function requireSession(
  sessions: SessionService,
  purposes: ReadonlyArray<'login' | 'recovery'> = ['login'],
): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    let token = bearerToken(c);
    const viaCookie = token === undefined;
    token ??= getCookie(c, SESSION_COOKIE);
    if (!token) throw new UnauthorizedError();
    if (tokenKind(token) !== 'session')
      throw new UnauthorizedError('The session is invalid, expired or revoked.');
    const session = await sessions.authenticate(token);
    if (!purposes.includes(session.purpose)) {
      throw new ForbiddenError('A recovery session may only set a new passphrase.');
    }
    if (viaCookie && !SAFE_METHODS.has(c.req.method)) {
      const sent = c.req.header(CSRF_HEADER) ?? '';
      const expected = sessions.csrfTokenFor(session.id);
      if (!safeEqual(Buffer.from(sent), Buffer.from(expected))) {
        throw new ForbiddenError(
          'Missing or wrong x-csrf-token for a cookie-authenticated request.',
        );
      }
    }
    c.set('auth', {
      userId: session.user_id,
      sessionId: session.id,
      purpose: session.purpose,
      viaCookie,
    });
    await next();
  };
}
