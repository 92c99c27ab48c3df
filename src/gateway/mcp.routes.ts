import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { AgentPrincipal, AgentTokenService } from '../auth/agent-tokens.service.ts';
import { bearerToken } from '../auth/middleware.ts';
import { UnauthorizedError } from '../errors.ts';
import { clientIp } from '../http/client-ip.ts';
import { readIncoming, untouchedIncoming } from '../http/node-request.ts';
import { currentRequestId } from '../log.ts';
import { isOAuthAccessToken, type OAuthService, originOf, resourceOf } from '../oauth/index.ts';
import type { Gateway } from './gateway.module.ts';
import { buildMcpServer } from './mcp.ts';
import { splitInvalidParams, toolCallNames, withParamErrors } from './rpc-params.ts';

/** JSON-RPC batches are an old protocol feature; a few are fine, hundreds are abuse. */
export const MAX_BATCH = 16;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
) {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/**
 * DNS-rebinding protection (the SDK's own check is for Express): `Host` must be loopback or the
 * host of a configured public origin, and a browser's `Origin`, when sent, must be one of those
 * origins. Anything else is a 403 before authentication.
 */
export function originGuard(publicOrigins: string[]): MiddlewareHandler {
  const origins = new Set(publicOrigins);
  const hosts = new Set(publicOrigins.map((o) => new URL(o).host));
  const loopbackHost = (host: string) => {
    try {
      return LOOPBACK.has(new URL(`http://${host}`).hostname);
    } catch {
      return false;
    }
  };
  return async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (!hosts.has(host) && !loopbackHost(host))
      return jsonRpcError(403, -32000, 'Forbidden: Host not allowed.');
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      let ok = origins.has(origin);
      if (!ok) {
        try {
          const u = new URL(origin);
          ok =
            (u.protocol === 'http:' || u.protocol === 'https:') &&
            loopbackHost(u.host) &&
            u.origin === origin;
        } catch {
          ok = false;
        }
      }
      if (!ok) return jsonRpcError(403, -32000, 'Forbidden: Origin not allowed.');
    }
    await next();
  };
}

export interface McpRouteDeps {
  publicOrigins: string[];
  trustProxy: boolean;
  tokens: AgentTokenService;
  gateway: Gateway;
  /** OAuth access tokens (src/oauth), accepted only when bound to this endpoint. */
  oauth?: OAuthService;
}

async function authenticate(
  c: Context,
  deps: McpRouteDeps,
): Promise<{ principal: AgentPrincipal; token: string }> {
  const token = bearerToken(c);
  if (!token) throw new UnauthorizedError('Send an agent token as "Authorization: Bearer vta_…".');
  if (deps.oauth && isOAuthAccessToken(token)) {
    const resource = resourceOf(originOf(c, deps.publicOrigins));
    const principal = await deps.oauth.authenticate(token, resource);
    if (!principal)
      throw new UnauthorizedError(
        'The access token is invalid, expired, revoked or for another resource.',
      );
    return { principal, token };
  }
  return { principal: await deps.tokens.authenticate(token), token };
}

/** RFC 9728 §5.1: a 401 from /mcp tells the client where to start the OAuth flow. */
function withResourceMetadata(c: Context, publicOrigins: string[], err: unknown): never {
  if (err instanceof UnauthorizedError) {
    const url = `${originOf(c, publicOrigins)}/.well-known/oauth-protected-resource/mcp`;
    err.headers['www-authenticate'] = `Bearer resource_metadata="${url}"`;
  }
  throw err;
}

/** Handlers learn who calls from the `authInfo` this route attached to the request. */
function callerFromAuthInfo(info: AuthInfo | undefined) {
  const e = info?.extra as
    | { tokenId?: unknown; userId?: unknown; agentName?: unknown; tokenExpiresAt?: unknown }
    | undefined;
  if (
    !e ||
    typeof e.tokenId !== 'string' ||
    typeof e.userId !== 'string' ||
    typeof e.agentName !== 'string' ||
    !(e.tokenExpiresAt instanceof Date)
  ) {
    throw new UnauthorizedError();
  }
  return {
    tokenId: e.tokenId,
    userId: e.userId,
    agentName: e.agentName,
    tokenExpiresAt: e.tokenExpiresAt,
  };
}

// As `Request.text()` decodes: UTF-8 with replacement characters, a leading BOM dropped.
const UTF8 = new TextDecoder();

/**
 * The request body as text. Read straight from the Node request when nothing touched it yet, so
 * the WHATWG `Request` and its web stream are never built (the transport is handed the parsed
 * body and reads only the method, URL and headers, which @hono/node-server serves lazily).
 */
async function bodyText(c: Context): Promise<string> {
  const incoming = untouchedIncoming(c);
  return incoming ? UTF8.decode(await readIncoming(incoming)) : c.req.text();
}

/** `/mcp`: stateless Streamable HTTP, a fresh server and transport per request. */
export function mcpRoutes(deps: McpRouteDeps) {
  const app = new Hono();
  app.use('/mcp', originGuard(deps.publicOrigins));
  // Stateless: no server-initiated stream to GET, no session to DELETE.
  app.on(['GET', 'DELETE'], '/mcp', () =>
    jsonRpcError(
      405,
      -32000,
      'Method not allowed: this server is stateless; POST JSON-RPC messages.',
      {
        allow: 'POST',
      },
    ),
  );
  app.post('/mcp', async (c) => {
    const { principal, token } = await authenticate(c, deps).catch((err: unknown) =>
      withResourceMetadata(c, deps.publicOrigins, err),
    );
    let body: unknown;
    try {
      body = JSON.parse(await bodyText(c));
    } catch {
      return jsonRpcError(400, -32700, 'Parse error: the body is not valid JSON.');
    }
    if (Array.isArray(body) && (body.length === 0 || body.length > MAX_BATCH))
      return jsonRpcError(
        400,
        -32600,
        `Invalid request: a batch holds 1 to ${MAX_BATCH} messages.`,
      );
    const batch = Array.isArray(body);
    const { errors, rest } = splitInvalidParams(body);
    if (errors.length > 0 && rest.length === 0) return withParamErrors(undefined, errors, batch);
    if (errors.length > 0) body = batch ? rest : rest[0];
    const caller = {
      tokenId: principal.tokenId,
      userId: principal.userId,
      agentName: principal.agentName,
      tokenExpiresAt: principal.expiresAt,
    };
    const keyed = await deps.gateway.keyed();
    const requestId = currentRequestId() ?? randomUUID();
    const seen = clientIp(c, deps.trustProxy);
    const ip = isIP(seen) ? seen : null;
    const userAgent = c.req.header('user-agent')?.slice(0, 500) ?? null;
    const server = buildMcpServer(
      keyed.parts,
      {
        caller: async (extra) => callerFromAuthInfo((extra as { authInfo?: AuthInfo }).authInfo),
        meta: () => ({ requestId, ip, userAgent }),
        permissions: (who) => deps.gateway.access.permissionsOf(who),
      },
      undefined,
      toolCallNames(batch ? (body as unknown[]) : [body]),
    );
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    const authInfo: AuthInfo = {
      token,
      clientId: principal.agentName,
      scopes: [],
      expiresAt: Math.floor(principal.expiresAt.getTime() / 1000),
      extra: { ...caller },
    };
    await server.connect(transport);
    try {
      const res = await transport.handleRequest(c.req.raw, { authInfo, parsedBody: body });
      return errors.length > 0 ? await withParamErrors(res, errors, batch) : res;
    } finally {
      // Closed once the SDK has finished with the request (its handler bookkeeping runs a few
      // ticks after the response resolves): closing at once would find each handler still
      // registered and abort it, one DOMException per request for nothing.
      setImmediate(() => void server.close().catch(() => undefined));
    }
  });
  return app;
}
