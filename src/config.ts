import path from 'node:path';
import { z } from 'zod';

/**
 * The only reader of `process.env`. Everything else receives a typed `Config`.
 * A bad value fails fast with one line naming the variable (and never echoing its value,
 * since URLs carry passwords).
 */

const port = z.coerce
  .number({ error: 'must be a port number from 0 to 65535' })
  .int({ error: 'must be a port number from 0 to 65535' })
  .min(0, { error: 'must be a port number from 0 to 65535' })
  .max(65_535, { error: 'must be a port number from 0 to 65535' });
const positiveInt = z.coerce
  .number({ error: 'must be a positive whole number' })
  .int({ error: 'must be a positive whole number' })
  .positive({ error: 'must be a positive whole number' });

const postgresUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a postgres:// or postgresql:// URL with a host, e.g. postgres://user@127.0.0.1:5432/vutler');

const redisUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a redis:// or rediss:// URL with a host, e.g. redis://127.0.0.1:6379');

function isOrigin(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v.replace(/\/$/, '');
  } catch {
    return false;
  }
}

const httpUrl = z
  .string()
  .refine((v) => /^https?:\/\/[^/]+/.test(v), 'must be an http(s) URL')
  .transform((v) => v.replace(/\/+$/, ''));

/** "capacity/seconds": a token bucket holding `capacity` calls, refilled over `seconds`. */
const rate = z
  .string()
  .regex(/^[1-9]\d{0,6}\/[1-9]\d{0,5}$/, 'must look like 120/60 (calls per seconds)')
  .transform((v) => {
    const [capacity, seconds] = v.split('/').map(Number) as [number, number];
    return { capacity, refillPerSecond: capacity / seconds };
  });

export interface TokenBucket {
  capacity: number;
  refillPerSecond: number;
}

const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], {
      error: 'must be development, production or test',
    })
    .default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port.default(3000),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  VUTLER_DATA_DIR: z.string().min(1).default('./.vutler'),
  VUTLER_BODY_LIMIT_BYTES: positiveInt.default(1024 * 1024),
  VUTLER_SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  VUTLER_WS_MAX_BUFFERED_BYTES: positiveInt.default(4 * 1024 * 1024),
  VUTLER_WS_HEARTBEAT_MS: positiveInt.default(30_000),
  VUTLER_WS_MAX_SOCKETS_PER_USER: positiveInt
    .max(10_000, { error: 'must be at most 10000' })
    .default(20),
  VUTLER_TRUST_PROXY: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false'),
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: positiveInt.max(1000, { error: 'must be at most 1000' }).default(10),
  REDIS_URL: redisUrl.optional(),
  VUTLER_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"')
    .default('vutler'),
  VUTLER_STORAGE: z.enum(['fs', 'webdav'], { error: 'must be fs or webdav' }).default('fs'),
  VUTLER_STORAGE_DIR: z.string().min(1).optional(),
  VUTLER_STORAGE_WEBDAV_URL: z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    }, 'must be an http:// or https:// URL, e.g. https://nas.local:5006/vutler')
    .optional(),
  VUTLER_STORAGE_WEBDAV_USERNAME: z.string().min(1).optional(),
  VUTLER_STORAGE_WEBDAV_PASSWORD: z.string().min(1).optional(),
  VUTLER_STORAGE_QUOTA_BYTES: positiveInt.default(10 * 1024 ** 3),
  VUTLER_STORAGE_REAP_AFTER_HOURS: positiveInt.default(24),
  VUTLER_AT_REST_KEYS: z
    .string()
    .refine(
      (v) => v.split(',').every((e) => /^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]{43}=$/.test(e.trim())),
      'must be comma-separated id:base64 entries of 32-byte keys (id:$(openssl rand -base64 32)), newest last',
    )
    .optional(),
  VUTLER_GATEWAY_KEY_FILE: z.string().min(1).optional(),
  VUTLER_KDF_ALLOW_WEAK: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  /** How long a node trusts a session it looked up, while it hears revocations; 0: never. */
  VUTLER_SESSION_CACHE_MS: z.coerce
    .number({ error: 'must be a whole number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(0, { error: 'must be 0 or more' })
    .max(60_000, { error: 'must be at most 60000' })
    .default(5_000),
  /**
   * How long a logout or revocation waits for every node to confirm it dropped the credentials
   * from its cache; 0: it does not wait (other nodes then drop them when the announcement lands).
   */
  VUTLER_REVOCATION_ACK_MS: z.coerce
    .number({ error: 'must be a whole number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(0, { error: 'must be 0 or more' })
    .max(30_000, { error: 'must be at most 30000' })
    .default(1_000),
  VUTLER_GATEWAY_KEY: z
    .string()
    .startsWith(
      'vutler-gateway-key:',
      'must be a key line made by the gateway ("vutler-gateway-key:…")',
    )
    .optional(),
  VUTLER_PUBLIC_ORIGINS: z
    .string()
    .refine(
      (v) => v.split(',').every((o) => isOrigin(o.trim())),
      'must be comma-separated origins such as https://vutler.example.com',
    )
    .optional(),
  VUTLER_GATEWAY_RATE_TOOL: rate.prefault('120/60'),
  VUTLER_GATEWAY_RATE_USER: rate.prefault('600/60'),
  VUTLER_AGENT_TOKEN: z
    .string()
    .regex(/^vta_[A-Za-z0-9_-]{43}$/, 'must be an agent token (vta_…)')
    .optional(),
  VUTLER_GATEWAY_SEARCH_WINDOW: positiveInt
    .max(5000, { error: 'must be at most 5000' })
    .default(500),
  VUTLER_VERIFY_CACHE_ENTRIES: z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(0, { error: 'must be 0 (off) or more' })
    .max(1_000_000, { error: 'must be at most 1000000' })
    .default(50_000),
  VUTLER_GATEWAY_FILE_MAX_BYTES: positiveInt
    .max(64 * 1024 * 1024, { error: 'must be at most 64 MiB' })
    .default(1024 * 1024),
  VUTLER_OAUTH_ACCESS_TTL_SECONDS: positiveInt
    .max(86_400, { error: 'must be at most 86400' })
    .default(900),
  VUTLER_OAUTH_REFRESH_TTL_DAYS: positiveInt.max(365, { error: 'must be at most 365' }).default(30),
  VUTLER_OAUTH_CIMD_CA_FILE: z.string().min(1).optional(),
  VUTLER_OAUTH_CIMD_ALLOW_PRIVATE: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false'),
  VUTLER_AUDIT_SEAL_INTERVAL_MS: positiveInt.max(3_600_000).default(2000),
  VUTLER_UPSTREAMS_FILE: z.string().min(1).optional(),
  VUTLER_MEMORY_MAX_ENTRIES: positiveInt
    .max(100_000, { error: 'must be at most 100000' })
    .default(2000),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: z
    .string()
    .refine((v) => /^https?:\/\/[^/]+/.test(v), 'must be an http(s) URL')
    .default('https://api.anthropic.com'),
  ANTHROPIC_MODEL: z.string().min(1).max(200).default('claude-sonnet-4-5'),
  ANTHROPIC_MAX_TOKENS: positiveInt.max(64_000, { error: 'must be at most 64000' }).default(1024),
  ANTHROPIC_MAX_RETRIES: z.coerce
    .number({ error: 'must be a whole number from 0 to 10' })
    .int({ error: 'must be a whole number from 0 to 10' })
    .min(0, { error: 'must be a whole number from 0 to 10' })
    .max(10, { error: 'must be a whole number from 0 to 10' })
    .default(2),
  ANTHROPIC_TIMEOUT_MS: positiveInt.default(120_000),
  VUTLER_AGENT_MAX_TOOL_ITERATIONS: positiveInt.max(50, { error: 'must be at most 50' }).default(6),
  VUTLER_AGENT_CONTEXT_MESSAGES: positiveInt.max(100, { error: 'must be at most 100' }).default(20),
  VUTLER_AGENT_RUN_ATTEMPTS: positiveInt.max(50, { error: 'must be at most 50' }).default(5),
  VUTLER_WORKER_CONCURRENCY: positiveInt.max(256, { error: 'must be at most 256' }).default(8),
  VUTLER_WORKER_LOCK_MS: positiveInt.min(1000, { error: 'must be at least 1000' }).default(30_000),
  VUTLER_OUTBOX_POLL_MS: positiveInt.default(2_000),
  VUTLER_OUTBOX_RECONCILE_MS: positiveInt.default(30_000),
  GITHUB_URL: httpUrl.default('https://github.com'),
  GITHUB_API_URL: httpUrl.default('https://api.github.com'),
  GITHUB_CLIENT_ID: z.string().min(1).max(200).optional(),
  GITHUB_CLIENT_SECRET: z.string().min(1).max(200).optional(),
  VUTLER_PUBLIC_URL: httpUrl.optional(),
  GITHUB_TIMEOUT_MS: positiveInt.default(10_000),
  GITHUB_RETRIES: z.coerce
    .number({ error: 'must be a whole number from 0 to 10' })
    .int({ error: 'must be a whole number from 0 to 10' })
    .min(0, { error: 'must be a whole number from 0 to 10' })
    .max(10, { error: 'must be a whole number from 0 to 10' })
    .default(3),
  GITHUB_RETRY_BASE_MS: positiveInt.default(1000),
  VUTLER_DEPLOY_STALE_MS: positiveInt.default(15 * 60_000),
  VUTLER_DEPLOY_SWEEP_MS: positiveInt.default(60_000),
  VUTLER_SERVER_SECRET: z
    .string()
    .refine(
      (v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length >= 32,
      'must be base64 of at least 32 random bytes (openssl rand -base64 32)',
    )
    .optional(),
  VUTLER_METRICS_TOKEN: z
    .string()
    .min(24, { error: 'must be at least 24 characters (openssl rand -hex 24)' })
    .optional(),
  VUTLER_ADMIN_TOKEN: z
    .string()
    .min(24, { error: 'must be at least 24 characters (openssl rand -hex 24)' })
    .optional(),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  env: 'development' | 'production' | 'test';
  http: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    shutdownTimeoutMs: number;
    /** Whether to believe X-Forwarded-For (only behind a proxy you run). */
    trustProxy: boolean;
  };
  ws: {
    /** A client with more undelivered bytes than this is cut off (close 4008). */
    maxBufferedBytes: number;
    heartbeatMs: number;
    /** Sockets one user may hold on one node; the next is closed with 4029. */
    maxSocketsPerUser: number;
  };
  log: { level: z.infer<typeof envSchema>['LOG_LEVEL'] };
  dataDir: string;
  db: {
    /** Absent: `vutler dev`/`serve` start an embedded PostgreSQL in `dataDir`. */
    url: string | undefined;
    poolMax: number;
  };
  redis: {
    /** Absent: 127.0.0.1:6379, else a `redis-server` from PATH on a free port. */
    url: string | undefined;
    /** Prefix of every Redis key and BullMQ queue, so deployments can share one Redis. */
    prefix: string;
  };
  auth: {
    /**
     * Let accounts register Argon2id costs below the default (m=64 MiB, t=3, p=1) and off the
     * ladder of allowed costs. For tests and development only: never in production.
     */
    allowWeakKdf: boolean;
    /**
     * Milliseconds a looked-up session is remembered in process (0: off). Revocations heard over
     * Redis clear it at once; this bounds one whose announcement was lost.
     */
    sessionCacheMs: number;
    /**
     * Milliseconds a revocation waits for every subscribed node to confirm it forgot the
     * credentials (0: no wait). A node that does not confirm in time is bounded by the TTL above.
     */
    revocationAckMs: number;
  };
  storage: {
    backend: 'fs' | 'webdav';
    /** `fs`: where chunks live (a local disk or an NFS/SMB-mounted NAS share). */
    dir: string;
    /** `webdav`: the collection chunks go into, and its credentials. */
    webdav: { url: string; username: string | undefined; password: string | undefined } | undefined;
    /** Ciphertext bytes one user may store. */
    quotaBytes: number;
    /** Uploads untouched for this long are abandoned: the reaper removes their blobs. */
    reapAfterMs: number;
  };
  atRest: {
    /** `[id, key]`, newest last; absent: generated once into `dataDir/at-rest.keys`. */
    keys: Array<{ id: string; key: Uint8Array }> | undefined;
  };
  gateway: {
    keyFile: string;
    /** The key line itself (takes precedence over the file): for deployments with a secret store. */
    key: string | undefined;
    /** Origins browsers may call /mcp from; their hosts are also accepted in `Host`. Loopback always is. */
    publicOrigins: string[];
    /** Per (agent token, tool) and per owner. */
    rateTool: TokenBucket;
    rateUser: TokenBucket;
    /** How many recent messages per chat `search_messages` decrypts at most. */
    searchWindow: number;
    /** Largest plaintext `read_file` decrypts in memory and returns. */
    fileMaxBytes: number;
    /** The agent token `vutler mcp --stdio` acts with (else `--token-file`). */
    agentToken: string | undefined;
    /** Ed25519 verification results remembered (never keys or plaintext); 0 turns it off. */
    verifyCacheEntries: number;
  };
  oauth: {
    /** Access tokens for /mcp live this long; clients refresh them. */
    accessTtlSeconds: number;
    refreshTtlDays: number;
    /** Extra CA (PEM file) trusted when fetching Client ID Metadata Documents. */
    cimdCaFile: string | undefined;
    /** Whether metadata documents may live on private/loopback addresses (tests, closed networks). */
    cimdAllowPrivate: boolean;
  };
  audit: {
    /** How often `vutler worker` links pending audit rows and signs a checkpoint. */
    sealIntervalMs: number;
  };
  memory: {
    /** Most entries one (user, agent) pair may hold: `recall` decrypts them all per call. */
    maxEntries: number;
  };
  federation: {
    /** JSON file of upstream MCP servers (docs/MCP.md); absent: no federation. */
    upstreamsFile: string | undefined;
  };
  anthropic: {
    /** Absent: the app runs; an agent mention gets `failed: no Anthropic key configured`. */
    apiKey: string | undefined;
    baseUrl: string;
    model: string;
    maxTokens: number;
    /** In-process retries of 408/409/429/5xx by the SDK (honouring retry-after) before BullMQ's. */
    maxRetries: number;
    timeoutMs: number;
    /** Model turns that may ask for tools; the last turn must answer. */
    maxToolIterations: number;
    /** Recent messages read as the run's context. */
    contextMessages: number;
  };
  workers: {
    concurrency: number;
    /** BullMQ lock: a job whose worker died is taken over after about this long. */
    lockMs: number;
    /** BullMQ attempts of an agent run (exponential backoff) after the SDK's own retries. */
    agentRunAttempts: number;
    /** The relay's polling fallback when a NOTIFY is missed. */
    outboxPollMs: number;
    /** How often outbox rows not done are checked against Redis and re-enqueued when lost. */
    outboxReconcileMs: number;
  };
  github: {
    /** Web host of the OAuth flow: github.com or a GitHub Enterprise Server. */
    url: string;
    /** REST v3 base: https://api.github.com or https://ghe.example.com/api/v3. */
    apiUrl: string;
    /** OAuth app; absent: only pasted tokens connect. */
    clientId: string | undefined;
    clientSecret: string | undefined;
    /** Where GitHub reaches this server (webhooks, OAuth callback); absent: no hook is created. */
    publicUrl: string | undefined;
    timeoutMs: number;
    /** Retries of 5xx/timeouts by octokit, (n+1)² × base ms apart. */
    retries: number;
    retryBaseMs: number;
    /** A deploy in_progress without a heartbeat for this long is ended `error` by the sweeper. */
    staleMs: number;
    sweepMs: number;
  };
  secrets: {
    /** Shared by every API node; absent: generated once into `dataDir/server.secret`. */
    serverSecret: Uint8Array | undefined;
  };
  ops: {
    /** Bearer token for `GET /metrics`; absent: the route answers 404. */
    metricsToken: string | undefined;
    /** Admin credential for Bull Board at `/admin/queues`; absent: the route answers 404. */
    adminToken: string | undefined;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses an environment (defaults to the process's) into a `Config`, or throws `ConfigError`. */
export function loadConfig(env: Env = process.env): Config {
  // Empty strings count as unset: `DATABASE_URL= npm start` should mean "embedded".
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const name = String(first?.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${name} ${first?.message ?? 'is invalid'}`);
  }
  const e = parsed.data;
  if (e.NODE_ENV === 'production' && e.VUTLER_KDF_ALLOW_WEAK === 'true') {
    throw new ConfigError(
      'Invalid configuration: VUTLER_KDF_ALLOW_WEAK cannot be true in production',
    );
  }
  const dataDir = path.resolve(e.VUTLER_DATA_DIR);
  if (e.VUTLER_STORAGE === 'webdav' && !e.VUTLER_STORAGE_WEBDAV_URL) {
    throw new ConfigError(
      'Invalid configuration: VUTLER_STORAGE_WEBDAV_URL is required when VUTLER_STORAGE=webdav',
    );
  }
  return {
    env: e.NODE_ENV,
    http: {
      host: e.HOST,
      port: e.PORT,
      bodyLimitBytes: e.VUTLER_BODY_LIMIT_BYTES,
      shutdownTimeoutMs: e.VUTLER_SHUTDOWN_TIMEOUT_MS,
      trustProxy: e.VUTLER_TRUST_PROXY === 'true',
    },
    ws: {
      maxBufferedBytes: e.VUTLER_WS_MAX_BUFFERED_BYTES,
      heartbeatMs: e.VUTLER_WS_HEARTBEAT_MS,
      maxSocketsPerUser: e.VUTLER_WS_MAX_SOCKETS_PER_USER,
    },
    log: { level: e.LOG_LEVEL },
    dataDir,
    db: { url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX },
    redis: { url: e.REDIS_URL, prefix: e.VUTLER_REDIS_PREFIX },
    auth: {
      allowWeakKdf: (e.VUTLER_KDF_ALLOW_WEAK ?? String(e.NODE_ENV !== 'production')) === 'true',
      sessionCacheMs: e.VUTLER_SESSION_CACHE_MS,
      revocationAckMs: e.VUTLER_REVOCATION_ACK_MS,
    },
    storage: {
      backend: e.VUTLER_STORAGE,
      dir: path.resolve(e.VUTLER_STORAGE_DIR ?? path.join(dataDir, 'blobs')),
      webdav: e.VUTLER_STORAGE_WEBDAV_URL
        ? {
            url: e.VUTLER_STORAGE_WEBDAV_URL,
            username: e.VUTLER_STORAGE_WEBDAV_USERNAME,
            password: e.VUTLER_STORAGE_WEBDAV_PASSWORD,
          }
        : undefined,
      quotaBytes: e.VUTLER_STORAGE_QUOTA_BYTES,
      reapAfterMs: e.VUTLER_STORAGE_REAP_AFTER_HOURS * 3_600_000,
    },
    atRest: {
      keys: e.VUTLER_AT_REST_KEYS?.split(',').map((entry) => {
        const [id, b64] = entry.trim().split(':') as [string, string];
        return { id, key: new Uint8Array(Buffer.from(b64, 'base64')) };
      }),
    },
    gateway: {
      keyFile: path.resolve(e.VUTLER_GATEWAY_KEY_FILE ?? path.join(dataDir, 'gateway.key')),
      key: e.VUTLER_GATEWAY_KEY,
      publicOrigins: (e.VUTLER_PUBLIC_ORIGINS ?? '')
        .split(',')
        .map((o) => o.trim().replace(/\/$/, ''))
        .filter(Boolean),
      rateTool: e.VUTLER_GATEWAY_RATE_TOOL,
      rateUser: e.VUTLER_GATEWAY_RATE_USER,
      searchWindow: e.VUTLER_GATEWAY_SEARCH_WINDOW,
      fileMaxBytes: e.VUTLER_GATEWAY_FILE_MAX_BYTES,
      agentToken: e.VUTLER_AGENT_TOKEN,
      verifyCacheEntries: e.VUTLER_VERIFY_CACHE_ENTRIES,
    },
    oauth: {
      accessTtlSeconds: e.VUTLER_OAUTH_ACCESS_TTL_SECONDS,
      refreshTtlDays: e.VUTLER_OAUTH_REFRESH_TTL_DAYS,
      cimdCaFile: e.VUTLER_OAUTH_CIMD_CA_FILE,
      cimdAllowPrivate: e.VUTLER_OAUTH_CIMD_ALLOW_PRIVATE === 'true',
    },
    audit: { sealIntervalMs: e.VUTLER_AUDIT_SEAL_INTERVAL_MS },
    memory: { maxEntries: e.VUTLER_MEMORY_MAX_ENTRIES },
    federation: {
      upstreamsFile: e.VUTLER_UPSTREAMS_FILE ? path.resolve(e.VUTLER_UPSTREAMS_FILE) : undefined,
    },
    anthropic: {
      apiKey: e.ANTHROPIC_API_KEY,
      baseUrl: e.ANTHROPIC_BASE_URL.replace(/\/$/, ''),
      model: e.ANTHROPIC_MODEL,
      maxTokens: e.ANTHROPIC_MAX_TOKENS,
      maxRetries: e.ANTHROPIC_MAX_RETRIES,
      timeoutMs: e.ANTHROPIC_TIMEOUT_MS,
      maxToolIterations: e.VUTLER_AGENT_MAX_TOOL_ITERATIONS,
      contextMessages: e.VUTLER_AGENT_CONTEXT_MESSAGES,
    },
    workers: {
      concurrency: e.VUTLER_WORKER_CONCURRENCY,
      lockMs: e.VUTLER_WORKER_LOCK_MS,
      agentRunAttempts: e.VUTLER_AGENT_RUN_ATTEMPTS,
      outboxPollMs: e.VUTLER_OUTBOX_POLL_MS,
      outboxReconcileMs: e.VUTLER_OUTBOX_RECONCILE_MS,
    },
    github: {
      url: e.GITHUB_URL,
      apiUrl: e.GITHUB_API_URL,
      clientId: e.GITHUB_CLIENT_ID,
      clientSecret: e.GITHUB_CLIENT_SECRET,
      publicUrl: e.VUTLER_PUBLIC_URL,
      timeoutMs: e.GITHUB_TIMEOUT_MS,
      retries: e.GITHUB_RETRIES,
      retryBaseMs: e.GITHUB_RETRY_BASE_MS,
      staleMs: e.VUTLER_DEPLOY_STALE_MS,
      sweepMs: e.VUTLER_DEPLOY_SWEEP_MS,
    },
    secrets: {
      serverSecret: e.VUTLER_SERVER_SECRET
        ? new Uint8Array(Buffer.from(e.VUTLER_SERVER_SECRET, 'base64'))
        : undefined,
    },
    ops: { metricsToken: e.VUTLER_METRICS_TOKEN, adminToken: e.VUTLER_ADMIN_TOKEN },
  };
}

/** Every variable `loadConfig` reads, for the README and `vutler --help`. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);
