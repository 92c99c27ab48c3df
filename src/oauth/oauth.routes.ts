import { type Context, Hono } from 'hono';
import { cors } from 'hono/cors';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { NotFoundError } from '../errors.ts';
import { agentName, uuid } from '../http/schemas.ts';
import { jsonBody, pathParams } from '../http/validate.ts';
import { MAX_METADATA_BYTES } from './clients.ts';
import { AUTHORIZE_CSP, CONSENT_CSS, errorPage, suggestAgentName } from './consent.ts';
import { OAuthError } from './errors.ts';
import { type OAuthService, redirectHost, UnredirectableError } from './oauth.service.ts';

export interface OAuthRouteDeps {
  oauth: OAuthService;
  sessions: SessionService;
  /** Public origins; the first is the issuer. Absent: the request's own origin (development). */
  publicOrigins: string[];
}

/** The issuer and the one resource it issues tokens for. */
export function originOf(c: Context, publicOrigins: string[]): string {
  return publicOrigins[0] ?? new URL(c.req.url).origin;
}
export const resourceOf = (origin: string) => `${origin}/mcp`;

const MAX_FORM_BYTES = 8 * 1024;

function oauthError(c: Context, err: OAuthError) {
  c.header('cache-control', 'no-store');
  if (err.status === 401) c.header('www-authenticate', 'Bearer');
  return c.json(err.body(), err.status as 400 | 401);
}

/** Reads an `application/x-www-form-urlencoded` body (RFC 6749 §3.2) into single values. */
async function formParams(c: Context): Promise<Record<string, string | undefined>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type))
    throw new OAuthError(
      'invalid_request',
      'Send the parameters as application/x-www-form-urlencoded.',
    );
  const text = await c.req.text();
  if (text.length > MAX_FORM_BYTES)
    throw new OAuthError('invalid_request', 'The request is too large.');
  const params = new URLSearchParams(text);
  const out: Record<string, string | undefined> = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    // RFC 6749 §3.1: parameters must not be repeated.
    if (all.length > 1) throw new OAuthError('invalid_request', `${key} is repeated.`);
    out[key] = all[0];
  }
  return out;
}

function queryOf(c: Context): Record<string, string | undefined> {
  const url = new URL(c.req.url);
  if (url.search.length > MAX_FORM_BYTES)
    throw new UnredirectableError('invalid_request', 'The request is too large.');
  const out: Record<string, string | undefined> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    if (all.length > 1) throw new UnredirectableError('invalid_request', `${key} is repeated.`);
    out[key] = all[0];
  }
  return out;
}

function redirectWith(uri: string, params: Record<string, string | undefined>): string {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

// The original /authorize query, checked again on every use: nothing about it is kept server-side.
const authorizationQuery = z
  .record(z.string().max(100), z.string().max(4000))
  .refine((r) => Object.keys(r).length <= 30, 'At most 30 parameters.');

const consentBody = z
  .object({
    request: authorizationQuery,
    decision: z.enum(['approve', 'deny']),
    agentName: agentName.optional(),
  })
  .strict();

/** Where the web app's consent page lives: a route of the app bundle, the query after it. */
export const CONSENT_ROUTE = '/#/consent';

/**
 * The OAuth 2.1 authorization server (RFC 8414, 7591, 7009, PKCE) and the protected-resource
 * metadata (RFC 9728) for /mcp. Metadata, registration, token and revocation answer any origin
 * (browser-based MCP clients such as the Inspector call them); consent needs the person's session.
 */
export function oauthRoutes(deps: OAuthRouteDeps) {
  const app = new Hono<AuthEnv>();
  const { oauth } = deps;
  const origin = (c: Context) => originOf(c, deps.publicOrigins);
  const open = cors({ origin: '*', allowMethods: ['GET', 'POST', 'OPTIONS'], maxAge: 600 });
  app.use('/.well-known/*', open);
  app.use('/oauth/register', open);
  app.use('/oauth/token', open);
  app.use('/oauth/revoke', open);

  const protectedResource = (c: Context) => {
    const o = origin(c);
    return c.json({
      resource: resourceOf(o),
      authorization_servers: [o],
      bearer_methods_supported: ['header'],
      resource_name: 'Vutler',
      resource_documentation: `${o}/docs/MCP.md`,
    });
  };
  app.get('/.well-known/oauth-protected-resource', protectedResource);
  app.get('/.well-known/oauth-protected-resource/mcp', protectedResource);

  const asMetadata = (c: Context) => {
    const o = origin(c);
    return c.json({
      issuer: o,
      authorization_endpoint: `${o}/oauth/authorize`,
      token_endpoint: `${o}/oauth/token`,
      registration_endpoint: `${o}/oauth/register`,
      revocation_endpoint: `${o}/oauth/revoke`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });
  };
  app.get('/.well-known/oauth-authorization-server', asMetadata);

  app.post('/oauth/register', async (c) => {
    try {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/json\b/i.test(type))
        throw new OAuthError(
          'invalid_client_metadata',
          'Send the client metadata as application/json.',
        );
      const text = await c.req.text();
      if (text.length > MAX_METADATA_BYTES)
        throw new OAuthError('invalid_client_metadata', 'The client metadata is too large.');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new OAuthError('invalid_client_metadata', 'The client metadata is not valid JSON.');
      }
      c.header('cache-control', 'no-store');
      return c.json(await oauth.register(body), 201);
    } catch (err) {
      if (err instanceof OAuthError) return oauthError(c, err);
      throw err;
    }
  });

  app.get('/oauth/authorize', async (c) => {
    c.header('cache-control', 'no-store');
    c.header('content-security-policy', AUTHORIZE_CSP);
    c.header('x-frame-options', 'DENY');
    c.header('referrer-policy', 'no-referrer');
    let q: Record<string, string | undefined> = {};
    try {
      q = queryOf(c);
      await oauth.checkAuthorization(q, resourceOf(origin(c)));
      // A valid request goes on to the web app, which signs the person in and asks for consent
      // there (the grant wraps are made in that page). The query rides in the fragment: the
      // server needs nothing of it until the page sends it back with the decision.
      return c.redirect(`${CONSENT_ROUTE}?${new URL(c.req.url).search.slice(1)}`, 302);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      if (err instanceof UnredirectableError || !q.redirect_uri) return c.html(errorPage(err), 400);
      return c.redirect(
        redirectWith(q.redirect_uri, {
          error: err.code,
          error_description: err.description,
          state: q.state,
          iss: origin(c),
        }),
        302,
      );
    }
  });

  app.get('/oauth/consent.css', (c) => {
    c.header('content-type', 'text/css; charset=utf-8');
    c.header('cache-control', 'no-cache');
    return c.body(CONSENT_CSS);
  });

  const session = requireSession(deps.sessions);
  /** What the consent page shows: who asks and where the answer goes, checked afresh. */
  app.post('/api/oauth/request', session, async (c) => {
    const body = await jsonBody(c, z.object({ request: authorizationQuery }).strict());
    c.header('cache-control', 'no-store');
    try {
      const req = await oauth.checkAuthorization(body.request, resourceOf(origin(c)));
      return c.json({
        clientId: req.clientId,
        clientName: req.clientName,
        redirectHost: redirectHost(req.redirectUri),
        resource: req.resource,
        suggestedAgent: suggestAgentName(req.clientName),
      });
    } catch (err) {
      if (err instanceof OAuthError) return oauthError(c, err);
      throw err;
    }
  });

  app.post('/api/oauth/consent', session, async (c) => {
    const body = await jsonBody(c, consentBody);
    c.header('cache-control', 'no-store');
    let req: Awaited<ReturnType<OAuthService['checkAuthorization']>>;
    try {
      req = await oauth.checkAuthorization(body.request, resourceOf(origin(c)));
    } catch (err) {
      if (err instanceof OAuthError) return oauthError(c, err);
      throw err;
    }
    const iss = origin(c);
    if (body.decision === 'deny')
      return c.json({
        redirectTo: redirectWith(req.redirectUri, {
          error: 'access_denied',
          state: req.state,
          iss,
        }),
      });
    if (!body.agentName)
      return oauthError(
        c,
        new OAuthError('invalid_request', 'Choose the agent name to connect as.'),
      );
    const code = await oauth.approve(c.get('auth').userId, body.agentName, req);
    return c.json({ redirectTo: redirectWith(req.redirectUri, { code, state: req.state, iss }) });
  });

  app.post('/oauth/token', async (c) => {
    c.header('cache-control', 'no-store');
    c.header('pragma', 'no-cache');
    try {
      const p = await formParams(c);
      const resource = resourceOf(origin(c));
      if (p.grant_type === 'authorization_code')
        return c.json(await oauth.exchangeCode(p, resource));
      if (p.grant_type === 'refresh_token') return c.json(await oauth.refresh(p, resource));
      throw new OAuthError(
        p.grant_type ? 'unsupported_grant_type' : 'invalid_request',
        'grant_type must be authorization_code or refresh_token.',
      );
    } catch (err) {
      if (err instanceof OAuthError) return oauthError(c, err);
      throw err;
    }
  });

  app.post('/oauth/revoke', async (c) => {
    try {
      const p = await formParams(c);
      await oauth.revoke(p.token);
      return c.body(null, 200);
    } catch (err) {
      if (err instanceof OAuthError) return oauthError(c, err);
      throw err;
    }
  });

  app.get('/api/oauth/clients', session, async (c) =>
    c.json({ clients: await oauth.connected(c.get('auth').userId) }),
  );
  app.delete('/api/oauth/clients/:id', session, async (c) => {
    const { id } = pathParams(c, z.object({ id: uuid }));
    if (!(await oauth.disconnect(c.get('auth').userId, id)))
      throw new NotFoundError('No such connected client.');
    return c.body(null, 204);
  });

  return app;
}
