import type { ServerType } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AccessRepository, AccessService } from './access/index.ts';
import { AtRestKeyring } from './atrest.ts';
import { auditRoutes } from './audit/audit.routes.ts';
import { AuditChainService } from './audit/chain.service.ts';
import { AgentTokenCache } from './auth/agent-tokens.cache.ts';
import { AgentTokenRepository } from './auth/agent-tokens.repository.ts';
import { agentTokenRoutes } from './auth/agent-tokens.routes.ts';
import { AgentTokenService } from './auth/agent-tokens.service.ts';
import { AuthRepository } from './auth/auth.repository.ts';
import { authRoutes } from './auth/auth.routes.ts';
import { type AuthLimits, AuthService, LIMITS } from './auth/auth.service.ts';
import { keysRoutes } from './auth/keys.routes.ts';
import { KeysService } from './auth/keys.service.ts';
import { RecoveryChallenges } from './auth/recovery-challenges.ts';
import { SessionRepository } from './auth/session.repository.ts';
import { SessionService } from './auth/session.service.ts';
import { SessionCache } from './auth/session-cache.ts';
import { anchorRoutes } from './chat/anchors.routes.ts';
import { AnchorService } from './chat/anchors.service.ts';
import { chatRoutes } from './chat/chat.routes.ts';
import { ChatService } from './chat/chat.service.ts';
import { ChatEvents } from './chat/events.ts';
import { ChatHub } from './chat/hub.ts';
import { MAX_FRAME_BYTES, requireUpgrade, wsRoute } from './chat/ws.routes.ts';
import type { Config } from './config.ts';
import type { Pool } from './db/pool.ts';
import { installNodeEd25519 } from './ed25519-node.ts';
import { MethodNotAllowedError, NotFoundError } from './errors.ts';
import { Gateway } from './gateway/gateway.module.ts';
import { gatewayRoutes } from './gateway/gateway.routes.ts';
import { GrantsRepository } from './gateway/grants.repository.ts';
import type { LoadedGatewayKeys } from './gateway/keys.ts';
import { mcpRoutes } from './gateway/mcp.routes.ts';
import { GatewayIdentityPins } from './gateway/pins.ts';
import { GithubModule } from './github/github.module.ts';
import { githubRoutes } from './github/github.routes.ts';
import { KeyringSealer } from './github/sealing.ts';
import { GithubToolsService } from './github/tools.service.ts';
import { webhookRoutes } from './github/webhooks.routes.ts';
import { payloadLimit } from './http/body-limit.ts';
import { healthRoutes } from './http/health.routes.ts';
import { onError, problemResponse } from './http/problem.ts';
import { RateLimits } from './http/rate-limit.ts';
import { requestIdAndLog } from './http/request-id.ts';
import { memoryRoutes } from './memory/memory.routes.ts';
import { MemoryService } from './memory/memory.service.ts';
import { observe } from './metrics.ts';
import { installNodeCrypto } from './node-crypto.ts';
import { createOAuth, type OAuthService, oauthRoutes } from './oauth/index.ts';
import { adminRoutes } from './ops/admin.routes.ts';
import { keepHeadersOnHead } from './ops/head.ts';
import { httpMetrics, metricsRoutes } from './ops/metrics.routes.ts';
import { securityHeaders } from './ops/security-headers.ts';
import type { ServerSecrets } from './secrets.ts';
import { DirectoryRepository } from './users/directory.repository.ts';
import { directoryRoutes } from './users/directory.routes.ts';
import { DirectoryService } from './users/directory.service.ts';
import { membershipFromAccess } from './vdrive/access.ts';
import { SharesService } from './vdrive/shares.service.ts';
import { createBlobStore } from './vdrive/storage/index.ts';
import type { BlobStore } from './vdrive/storage/types.ts';
import { isChunkUpload, vdriveRoutes } from './vdrive/vdrive.routes.ts';
import { VdriveService } from './vdrive/vdrive.service.ts';
import { webRoutes } from './web/static.routes.ts';
import { type QueueMetrics, startQueueMetrics } from './workers/queue-metrics.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  secrets: ServerSecrets;
  /** False while migrations wait for an unreachable PostgreSQL (/ready says so). */
  schemaReady?: () => boolean;
  /** Tests raise per-IP limits, since every test client shares 127.0.0.1. */
  limits?: Partial<AuthLimits>;
  /** The at-rest sealing keys (`loadAtRestKeyring`); tests may omit it for a throwaway one. */
  atRest?: AtRestKeyring;
  /** Blob storage; default from `config.storage`. */
  storage?: BlobStore;
  /** The gateway key pair; default: `VUTLER_GATEWAY_KEY` or the key file, loaded on first use. */
  gatewayKeys?: LoadedGatewayKeys;
}

export interface Services {
  /** People's access to resources: the one batched check (src/access). */
  access: AccessService;
  auth: AuthService;
  /** Authenticates sessions; the hub asks it which sessions are still live. */
  sessions: SessionService;
  keys: KeysService;
  agentTokens: AgentTokenService;
  chatEvents: ChatEvents;
  chats: ChatService;
  /** Members' signed membership-log anchors (a new device verifies from there). */
  anchors: AnchorService;
  gateway: Gateway;
  auditChain: AuditChainService;
  /** Built once the gateway key is loaded (grants are checked against its pins). */
  memory: () => Promise<MemoryService>;
  files: VdriveService;
  shares: SharesService;
  directory: DirectoryService;
  /** The authorization server for /mcp (src/oauth). */
  oauth: OAuthService;
  github: GithubModule;
}

export function createServices(deps: AppDeps): Services {
  installNodeEd25519();
  installNodeCrypto({ verifyCacheEntries: deps.config.gateway.verifyCacheEntries });
  const rateLimits = new RateLimits(deps.redis, `${deps.config.redis.prefix}:rl`);
  const limits = { ...LIMITS, ...deps.limits };
  const { allowWeakKdf } = deps.config.auth;
  const chatEvents = new ChatEvents(deps.redis, deps.config.redis.prefix, deps.logger, {
    revocationAckMs: deps.config.auth.revocationAckMs,
  });
  // Repositories are built once here; each service gets only what it uses.
  const users = new AuthRepository(deps.pool);
  // Trusted only while the hub's subscription hears revocations (ChatEvents turns it on and off).
  const sessionCache = new SessionCache({
    ttlMs: deps.config.auth.sessionCacheMs,
    maxEntries: 10_000,
  });
  chatEvents.watchRevocations(sessionCache);
  // Agent tokens: the same rules, the same channel (a revoked token is announced as its owner's).
  const agentTokenCache = new AgentTokenCache({
    ttlMs: deps.config.auth.sessionCacheMs,
    maxEntries: 10_000,
  });
  chatEvents.watchRevocations(agentTokenCache);
  const sessions = new SessionService(new SessionRepository(deps.pool), {
    serverKey: deps.secrets.serverKey,
    logger: deps.logger,
    onRevoked: (revoked) => chatEvents.publishSessionsRevoked(revoked),
    cache: sessionCache,
  });
  const auth = new AuthService(users, sessions, rateLimits, {
    serverKey: deps.secrets.serverKey,
    allowWeakKdf,
    limits,
  });
  const keys = new KeysService({
    users,
    sessions,
    rateLimits,
    challenges: new RecoveryChallenges(deps.redis, deps.config.redis.prefix),
    limits,
    allowWeakKdf,
  });
  const access = new AccessService(new AccessRepository(deps.pool));
  const chats = new ChatService(deps.pool, chatEvents, access);
  const gatewayKeys = deps.gatewayKeys;
  const github = new GithubModule({
    config: deps.config,
    logger: deps.logger,
    pool: deps.pool,
    redis: deps.redis,
    stateKey: deps.secrets.serverKey,
    sealer: deps.atRest ? new KeyringSealer(deps.atRest) : undefined,
  });
  const files = new VdriveService(
    deps.pool,
    deps.storage ?? createBlobStore(deps.config.storage),
    deps.atRest ?? throwawayKeyring(deps.config),
    deps.config.storage,
    deps.logger,
  );
  const gateway = new Gateway({
    config: deps.config,
    logger: deps.logger,
    pool: deps.pool,
    redis: deps.redis,
    poster: chats,
    files,
    loadKeys: gatewayKeys ? async () => gatewayKeys : undefined,
    github: (audit) => new GithubToolsService(github, audit),
  });
  return {
    auth,
    sessions,
    keys,
    agentTokens: new AgentTokenService(new AgentTokenRepository(deps.pool), {
      cache: agentTokenCache,
      onRevoked: (revoked) => chatEvents.publishSessionsRevoked(revoked),
    }),
    chatEvents,
    access,
    chats,
    anchors: new AnchorService(deps.pool, access),
    oauth: createOAuth(deps.pool, deps.config.oauth),
    gateway,
    memory: lazy(async () => {
      const { keys } = await gateway.keyed();
      const pins = new GatewayIdentityPins(new GrantsRepository(deps.pool), keys.keys);
      return new MemoryService(deps.pool, pins, deps.config.memory.maxEntries);
    }),
    auditChain: new AuditChainService(
      deps.pool,
      async () => (await gateway.keyed()).keys.keys.ed25519.publicKey,
    ),
    files,
    shares: new SharesService(deps.pool, files, membershipFromAccess(access), chats),
    directory: new DirectoryService(new DirectoryRepository(deps.pool), rateLimits),
    github,
  };
}

function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= make().catch((err: unknown) => {
      p = undefined;
      throw err;
    });
    return p;
  };
}

/** Only tests may run without persistent at-rest keys: a restart would orphan every file. */
function throwawayKeyring(config: Config): AtRestKeyring {
  if (config.atRest.keys) return new AtRestKeyring(config.atRest.keys);
  if (config.env !== 'test') throw new Error('createServices needs deps.atRest outside tests');
  return new AtRestKeyring([{ id: 'test', key: crypto.getRandomValues(new Uint8Array(32)) }]);
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
  const hub = new ChatHub(services.chats, services.chatEvents, services.sessions, deps.logger, {
    maxBufferedBytes: deps.config.ws.maxBufferedBytes,
    heartbeatMs: deps.config.ws.heartbeatMs,
    maxSocketsPerUser: deps.config.ws.maxSocketsPerUser,
  });
  app.use('*', requestIdAndLog(deps.logger));
  app.use('*', httpMetrics());
  app.use('*', securityHeaders());
  const limit = deps.config.http.bodyLimitBytes;
  const globalLimit = payloadLimit(limit);
  // Chunk uploads stream to storage under their own exact limit (chunk size + tag).
  app.use('*', (c, next) =>
    isChunkUpload(c.req.method, c.req.path) ? next() : globalLimit(c, next),
  );
  const routeOpts = {
    trustProxy: deps.config.http.trustProxy,
    secureCookies: deps.config.env === 'production',
  };
  app.route('/', healthRoutes({ ...deps, storage: () => services.files.checkStorage() }));
  app.route('/', metricsRoutes(deps.config.ops.metricsToken));
  app.get('/ws', requireUpgrade, wsRoute(upgradeWebSocket, services.sessions, hub, deps.logger));
  app.route('/api', authRoutes(services.auth, services.sessions, routeOpts));
  app.route('/api', keysRoutes(services.sessions, services.keys, routeOpts));
  app.route('/api', agentTokenRoutes(services.sessions, services.agentTokens));
  app.route('/api', chatRoutes(services.sessions, services.chats));
  app.route('/api', anchorRoutes(services.sessions, services.anchors));
  app.route('/api', gatewayRoutes(services.sessions, services.gateway));
  app.route('/api', auditRoutes(services.sessions, services.gateway.audit, services.auditChain));
  app.route('/api', memoryRoutes(services.sessions, services.memory));
  app.route('/api', githubRoutes(services.sessions, services.github));
  app.route('/', webhookRoutes(services.github));
  app.route(
    '/',
    oauthRoutes({
      oauth: services.oauth,
      sessions: services.sessions,
      publicOrigins: deps.config.gateway.publicOrigins,
    }),
  );
  app.route(
    '/',
    mcpRoutes({
      oauth: services.oauth,
      publicOrigins: deps.config.gateway.publicOrigins,
      trustProxy: deps.config.http.trustProxy,
      tokens: services.agentTokens,
      gateway: services.gateway,
    }),
  );
  app.route('/api', vdriveRoutes(services.sessions, services.files, services.shares));
  app.route('/api', directoryRoutes(services.sessions, services.directory));
  const admin = adminRoutes(deps.config, deps.redis);
  app.route('/', admin.app);
  app.route('/', webRoutes());
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    const err = allowed.length
      ? new MethodNotAllowedError(allowed)
      : new NotFoundError(`No route for ${c.req.method} ${c.req.path}.`);
    return problemResponse(err, c.req.path);
  });
  app.onError(onError(deps.logger));
  keepHeadersOnHead(app);
  let unobserve: (() => void) | undefined;
  let queueMetrics: QueueMetrics | undefined;
  let hubRetry: NodeJS.Timeout | undefined;
  let stopped = false;
  let reaper: ReturnType<typeof setInterval> | undefined;
  return {
    app,
    services,
    hub,
    start: async (server) => {
      injectWebSocket(server);
      unobserve = observe('wsConnections', () => [{ value: hub.size }]);
      // Queue depths, job outcomes and outbox lag, only where /metrics is on.
      if (deps.config.ops.metricsToken) queueMetrics = startQueueMetrics(deps);
      try {
        await hub.start();
      } catch (err) {
        // Redis down at start: serve (/ready says so) and subscribe once it answers, then catch
        // every socket up from PostgreSQL as after any pub/sub outage.
        deps.logger.warn(
          { err: { message: (err as Error).message } },
          'Redis unreachable: chat events will subscribe when it answers',
        );
        // One attempt at a time (a subscribe can take longer than the pause).
        const retry = () => {
          hubRetry = setTimeout(() => {
            hub.start().then(
              () => hub.onResubscribed(),
              () => stopped || retry(),
            );
          }, 1_000);
          hubRetry.unref();
        };
        retry();
      }
      // Abandoned uploads are reaped a few times per reap age (at least hourly); unref'd so it
      // never holds the process open.
      const every = Math.min(3_600_000, Math.max(60_000, deps.config.storage.reapAfterMs / 4));
      reaper = setInterval(() => {
        services.files.reap().catch((err: unknown) => {
          deps.logger.warn({ err: { message: (err as Error).message } }, 'vdrive reaper failed');
        });
      }, every);
      reaper.unref();
    },
    stop: async () => {
      stopped = true;
      clearTimeout(hubRetry);
      clearInterval(reaper);
      unobserve?.();
      await queueMetrics?.close();
      await admin.close();
      await hub.stop();
      await services.gateway.close();
    },
  };
}
