import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { clientIp } from '../http/client-ip.ts';
import { base64Bytes, email, text } from '../http/schemas.ts';
import { jsonBody, queryParams } from '../http/validate.ts';
import type { AuthService } from './auth.service.ts';
import { type AuthEnv, requireSession, SESSION_COOKIE } from './middleware.ts';
import type { IssuedSession, RequestMeta, SessionService } from './session.service.ts';

export const kdfJson = z
  .object({
    alg: z.literal('argon2id'),
    salt: z.string().max(64),
    m: z.number().int(),
    t: z.number().int(),
    p: z.number().int(),
  })
  .strict();

const registerBody = z
  .object({
    email,
    displayName: text({ min: 1, max: 100 }).optional(),
    kdf: kdfJson,
    authKey: base64Bytes({ exact: 32 }),
  })
  .strict();

const loginBody = z.object({ email, authKey: base64Bytes({ exact: 32 }) }).strict();

export interface RouteOptions {
  trustProxy: boolean;
  secureCookies: boolean;
}

export function requestMeta(c: Context, trustProxy: boolean): RequestMeta {
  return { ip: clientIp(c, trustProxy), userAgent: c.req.header('user-agent') ?? null };
}

export function setSessionCookie(c: Context, session: IssuedSession, secure: boolean): void {
  setCookie(c, SESSION_COOKIE, session.token, {
    httpOnly: true,
    sameSite: 'Strict',
    secure,
    path: '/',
    expires: new Date(session.expiresAt),
  });
}

/**
 * Answers that carry a session token, keys or account data must not be kept by browsers or
 * proxies. Set after the handler so it also covers answers built by the handler itself.
 */
export const noStore: MiddlewareHandler = async (c, next) => {
  await next();
  c.res.headers.set('cache-control', 'no-store');
};

/** `/api/auth/*` and `/api/me`: pre-login params, register, login, logout. */
export function authRoutes(auth: AuthService, sessions: SessionService, opts: RouteOptions) {
  const app = new Hono<AuthEnv>();
  app.use('/auth/*', noStore);
  app.use('/me', noStore);

  app.get('/auth/params', async (c) => {
    const { email: e } = queryParams(c, z.object({ email }));
    return c.json(await auth.kdfParamsFor(e, requestMeta(c, opts.trustProxy)));
  });

  app.post('/auth/register', async (c) => {
    const body = await jsonBody(c, registerBody);
    const result = await auth.register(
      {
        email: body.email,
        displayName: body.displayName ?? null,
        kdf: body.kdf,
        authKey: body.authKey,
      },
      requestMeta(c, opts.trustProxy),
    );
    setSessionCookie(c, result.session, opts.secureCookies);
    return c.json(result, 201);
  });

  app.post('/auth/login', async (c) => {
    const body = await jsonBody(c, loginBody);
    const result = await auth.login(body.email, body.authKey, requestMeta(c, opts.trustProxy));
    setSessionCookie(c, result.session, opts.secureCookies);
    return c.json(result);
  });

  app.post('/auth/logout', requireSession(sessions, ['login', 'recovery']), async (c) => {
    await auth.logout(c.get('auth').sessionId);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.body(null, 204);
  });

  app.get('/me', requireSession(sessions), async (c) => {
    const { userId, sessionId } = c.get('auth');
    return c.json({ user: await auth.me(userId), csrfToken: sessions.csrfTokenFor(sessionId) });
  });

  return app;
}
