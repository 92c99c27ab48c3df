import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { GithubRepository } from './github.repository.ts';
import { GithubService } from './github.service.ts';
import { type AtRestSealer, loadGithubSealer } from './sealing.ts';
import { IntegrationSecrets } from './secrets.ts';
import { WebhooksService } from './webhooks.service.ts';

export interface GithubDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  /** HMAC key for OAuth `state` (the server secret). */
  stateKey: Uint8Array;
  /** The at-rest sealer; default: `VUTLER_AT_REST_KEYS` or the data dir's key file. */
  sealer?: AtRestSealer;
}

export interface GithubParts {
  repo: GithubRepository;
  secrets: IntegrationSecrets;
  service: GithubService;
  webhooks: WebhooksService;
}

/** The GitHub connector's services, built once the at-rest keyring is loaded. */
export class GithubModule {
  private partsPromise: Promise<GithubParts> | undefined;

  constructor(private readonly deps: GithubDeps) {}

  parts(): Promise<GithubParts> {
    this.partsPromise ??= this.build().catch((err: unknown) => {
      this.partsPromise = undefined;
      throw err;
    });
    return this.partsPromise;
  }

  private async build(): Promise<GithubParts> {
    const { config, logger, pool, redis } = this.deps;
    const sealer = this.deps.sealer ?? (await loadGithubSealer(config));
    const repo = new GithubRepository(pool);
    const secrets = new IntegrationSecrets(sealer);
    return {
      repo,
      secrets,
      service: new GithubService(
        config.github,
        pool,
        repo,
        secrets,
        redis,
        config.redis.prefix,
        this.deps.stateKey,
        logger,
      ),
      webhooks: new WebhooksService(pool, repo, secrets),
    };
  }
}
