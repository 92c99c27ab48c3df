import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AuditRepository } from '../audit/audit.repository.ts';
import { AuditService } from '../audit/audit.service.ts';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { loadUpstreamsFile } from '../federation/config.ts';
import { FederationService } from '../federation/federation.service.ts';
import { UpstreamHub } from '../federation/upstreams.ts';
import type { GithubToolsService } from '../github/tools.service.ts';
import { MemoryRepository } from '../memory/memory.repository.ts';
import { MemoryToolsService } from '../memory/memory-tools.service.ts';
import { TOOLS } from '../tools/index.ts';
import { GatewayAccess } from './access.ts';
import { AgentChainLocks } from './chain-lock.ts';
import { type AgentPoster, ChatToolsService } from './chat-tools.service.ts';
import { type ChatMembership, GatewayChatsRepository } from './chats.repository.ts';
import { EphemeralKeys } from './ephemeral.ts';
import { FileToolsService, type GatewayFileStore } from './file-tools.service.ts';
import { GrantsRepository } from './grants.repository.ts';
import { GrantsService } from './grants.service.ts';
import { type LoadedGatewayKeys, loadGatewayKeys } from './keys.ts';
import type { GatewayParts } from './mcp.ts';
import { PermissionsRepository } from './permissions.repository.ts';
import { PermissionsService } from './permissions.service.ts';
import { GatewayIdentityPins } from './pins.ts';
import { GatewayRateLimits } from './rate-limit.ts';

/** What needs the gateway key pair: built once the key is loaded (or generated). */
export interface KeyedGateway {
  keys: LoadedGatewayKeys;
  grants: GrantsService;
  parts: GatewayParts;
}

export interface GatewayDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  poster: AgentPoster;
  /** Replaces the PostgreSQL membership query (the hub branch's `src/access/`). */
  membership?: ChatMembership;
  /** VDrive, for the file tools and file grants. */
  files: GatewayFileStore;
  /** Defaults to `VUTLER_GATEWAY_KEY` / the key file. */
  loadKeys?: () => Promise<LoadedGatewayKeys>;
  /** The GitHub tools (list_repos, list_deployments, trigger_deploy), given the gateway's audit. */
  github?: (audit: AuditService) => GithubToolsService;
}

/** The Agent Access Gateway's services, wired once per process. */
export class Gateway {
  readonly permissions: PermissionsService;
  readonly access: GatewayAccess;
  readonly audit: AuditService;
  private keyedPromise: Promise<KeyedGateway> | undefined;

  constructor(private readonly deps: GatewayDeps) {
    this.permissions = new PermissionsService(new PermissionsRepository(deps.pool), deps.logger);
    this.chatsRepo = new GatewayChatsRepository(deps.pool);
    this.membership = deps.membership ?? this.chatsRepo;
    this.access = new GatewayAccess(this.permissions, this.membership);
    this.audit = new AuditService(new AuditRepository(deps.pool), deps.logger);
  }

  private readonly chatsRepo: GatewayChatsRepository;
  private readonly membership: ChatMembership;

  /** Loads the key pair on first use (`vutler serve` calls it at start, so the file is made then). */
  keyed(): Promise<KeyedGateway> {
    this.keyedPromise ??= this.build().catch((err: unknown) => {
      this.keyedPromise = undefined;
      throw err;
    });
    return this.keyedPromise;
  }

  private upstreams: UpstreamHub | undefined;

  /** Closes the upstream MCP connections (stdio children exit). */
  async close(): Promise<void> {
    const hub = this.upstreams;
    this.upstreams = undefined;
    await hub?.close();
  }

  private async build(): Promise<KeyedGateway> {
    const { config, logger, pool, redis } = this.deps;
    if (config.federation.upstreamsFile && !this.upstreams) {
      this.upstreams = new UpstreamHub(
        await loadUpstreamsFile(config.federation.upstreamsFile),
        logger,
      );
      await this.upstreams.start();
    }
    const keys = await (this.deps.loadKeys ?? (() => loadGatewayKeys(config, logger)))();
    const grantsRepo = new GrantsRepository(pool);
    const pins = new GatewayIdentityPins(grantsRepo, keys.keys);
    const chats = new ChatToolsService(
      this.access,
      this.chatsRepo,
      new EphemeralKeys(grantsRepo, pins, keys.keys),
      pins,
      this.audit,
      this.deps.poster,
      keys.keys,
      config.gateway.searchWindow,
      new AgentChainLocks(pool),
    );
    return {
      keys,
      grants: new GrantsService(pool, this.membership, pins, this.deps.files),
      parts: {
        chats,
        files: new FileToolsService(
          (caller) => this.access.permissionsOf(caller),
          this.deps.files,
          grantsRepo,
          pins,
          this.audit,
          keys.keys,
          config.gateway.fileMaxBytes,
        ),
        federation: this.upstreams ? new FederationService(this.upstreams, this.audit) : undefined,
        memory: new MemoryToolsService(
          new MemoryRepository(pool),
          grantsRepo,
          pins,
          keys.keys,
          this.audit,
          config.memory.maxEntries,
        ),
        limits: new GatewayRateLimits(
          redis,
          config.redis.prefix,
          config.gateway.rateTool,
          config.gateway.rateUser,
        ),
        logger,
        gatewayFingerprint: keys.bundle.fingerprint,
        tools: TOOLS,
        github: this.deps.github?.(this.audit),
      },
    };
  }
}
