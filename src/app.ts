import type { ServerType } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { auditRoutes } from './audit/audit.routes.ts';
import { agentTokenRoutes } from './auth/agent-tokens.routes.ts';
import { AgentTokenService } from './auth/agent-tokens.service.ts';
import { authRoutes } from './auth/auth.routes.ts';
import { type AuthLimits, AuthService, LIMITS } from './auth/auth.service.ts';
import { keysRoutes } from './auth/keys.routes.ts';
import { KeysService } from './auth/keys.service.ts';
import { chatRoutes } from './chat/chat.routes.ts';
import { ChatService } from './chat/chat.service.ts';
import { ChatEvents } from './chat/events.ts';
import { ChatHub } from './chat/hub.ts';
import { MAX_FRAME_BYTES, wsRoute } from './chat/ws.routes.ts';
import type { Config } from './config.ts';
import type { Pool } from './db/pool.ts';
import { MethodNotAllowedError, NotFoundError } from './errors.ts';
import { Gateway } from './gateway/gateway.module.ts';
import { gatewayRoutes } from './gateway/gateway.routes.ts';
import type { LoadedGatewayKeys } from './gateway/keys.ts';
import { mcpRoutes } from './gateway/mcp.routes.ts';
import { GithubModule } from './github/github.module.ts';
import { githubRoutes } from './github/github.routes.ts';
import type { AtRestSealer } from './github/sealing.ts';
import { GithubToolsService } from './github/tools.service.ts';
import { webhookRoutes } from './github/webhooks.routes.ts';
import { payloadLimit } from './http/body-limit.ts';
import { healthRoutes } from './http/health.routes.ts';
import { onError, problemResponse } from './http/problem.ts';
import { RateLimits } from './http/rate-limit.ts';
import { requestIdAndLog } from './http/request-id.ts';
import type { ServerSecrets } from './secrets.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  secrets: ServerSecrets;
  /** Tests raise per-IP limits, since every test client shares 127.0.0.1. */
  limits?: Partial<AuthLimits>;
  /** The gateway key pair; default: `VUTLER_GATEWAY_KEY` or the key file, loaded on first use. */
  gatewayKeys?: LoadedGatewayKeys;
  /** Seals GitHub tokens and secrets; default: `VUTLER_AT_REST_KEYS` or the data dir's key file. */
  atRest?: AtRestSealer;
}

export interface Services {
  auth: AuthService;
  keys: KeysService;
  agentTokens: AgentTokenService;
  chatEvents: ChatEvents;
  chats: ChatService;
  gateway: Gateway;
  github: GithubModule;
}

export function createServices(deps: AppDeps): Services {
  const limits = new RateLimits(deps.redis, `${deps.config.redis.prefix}:rl`);
  const auth = new AuthService(deps.pool, deps.secrets.serverKey, limits, {
    allowWeakKdf: deps.config.env !== 'production',
    logger: deps.logger,
    limits: { ...LIMITS, ...deps.limits },
  });
  const chatEvents = new ChatEvents(deps.redis, deps.config.redis.prefix, deps.logger);
  const chats = new ChatService(deps.pool, chatEvents);
  const gatewayKeys = deps.gatewayKeys;
  const github = new GithubModule({
    config: deps.config,
    logger: deps.logger,
    pool: deps.pool,
    redis: deps.redis,
    stateKey: deps.secrets.serverKey,
    sealer: deps.atRest,
  });
  return {
    auth,
    keys: new KeysService(auth),
    agentTokens: new AgentTokenService(auth.repo),
    chatEvents,
    chats,
    gateway: new Gateway({
      config: deps.config,
      logger: deps.logger,
      pool: deps.pool,
      redis: deps.redis,
      poster: chats,
      loadKeys: gatewayKeys ? async () => gatewayKeys : undefined,
      github: (audit) => new GithubToolsService(github, audit),
    }),
    github,
  };
}

/** Methods registered for paths matching `path`, for 405 answers. */
function allowedMethods(app: Hono, path: string): string[] {
  const methods = new Set<string>();
  for (const r of app.routes) {
    if (r.method === 'ALL') continue;
    const pattern = new RegExp(
      `^${r.path
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/\/:[^/]+/g, '/[^/]+')
        .replace(/\*/g, '.*')}$`,
    );
    if (pattern.test(path)) methods.add(r.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

/** The HTTP application plus the pieces that live beside it (WebSockets, the chat hub). */
export interface VutlerApp {
  app: Hono;
  services: Services;
  hub: ChatHub;
  /** Attaches WebSocket upgrades to the HTTP server and starts the hub. */
  start: (server: ServerType) => Promise<void>;
  /** Closes every WebSocket and stops listening for chat events. */
  stop: () => Promise<void>;
}

/** Every route is mounted here, one sub-app per resource. */
export function createApp(deps: AppDeps, services: Services = createServices(deps)): VutlerApp {
  const app = new Hono();
  const { upgradeWebSocket, injectWebSocket, wss } = createNodeWebSocket({ app });
  // ws defaults to 100 MiB frames; clients only ever send small control frames.
  wss.options.maxPayload = MAX_FRAME_BYTES;
  const hub = new ChatHub(services.chats, services.chatEvents, deps.logger, {
    maxBufferedBytes: deps.config.ws.maxBufferedBytes,
    heartbeatMs: deps.config.ws.heartbeatMs,
    liveSessions: (ids) => services.auth.repo.liveSessionIds(ids),
  });
  app.use('*', requestIdAndLog(deps.logger));
  const limit = deps.config.http.bodyLimitBytes;
  app.use('*', payloadLimit(limit));
  const routeOpts = {
    trustProxy: deps.config.http.trustProxy,
    secureCookies: deps.config.env === 'production',
  };
  app.route('/', healthRoutes(deps));
  app.get('/ws', wsRoute(upgradeWebSocket, services.auth, hub, deps.logger));
  app.route('/api', authRoutes(services.auth, routeOpts));
  app.route('/api', keysRoutes(services.auth, services.keys, routeOpts));
  app.route('/api', agentTokenRoutes(services.auth, services.agentTokens));
  app.route('/api', chatRoutes(services.auth, services.chats));
  app.route('/api', gatewayRoutes(services.auth, services.gateway));
  app.route('/api', auditRoutes(services.auth, services.gateway.audit));
  app.route('/api', githubRoutes(services.auth, services.github));
  app.route('/', webhookRoutes(services.github));
  app.route(
    '/',
    mcpRoutes({
      publicOrigins: deps.config.gateway.publicOrigins,
      trustProxy: deps.config.http.trustProxy,
      tokens: services.agentTokens,
      gateway: services.gateway,
    }),
  );
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    const err = allowed.length
      ? new MethodNotAllowedError(allowed)
      : new NotFoundError(`No route for ${c.req.method} ${c.req.path}.`);
    return problemResponse(err, c.req.path);
  });
  app.onError(onError(deps.logger));
  return {
    app,
    services,
    hub,
    start: async (server) => {
      injectWebSocket(server);
      await hub.start();
    },
    stop: () => hub.stop(),
  };
}
