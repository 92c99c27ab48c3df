import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { exchangeWebFlowCode } from '@octokit/oauth-methods';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  ServiceUnavailableError,
} from '../errors.ts';
import {
  GithubRepository,
  type IntegrationRow,
  type RepoRow,
  type Strategy,
} from './github.repository.ts';
import { githubClient } from './octokit.ts';
import type { IntegrationSecrets } from './secrets.ts';
import { type DeploymentView, deploymentView, type RepoView, repoView } from './views.ts';

export interface IntegrationView {
  id: string;
  githubUserId: number;
  login: string | null;
  kind: 'token' | 'oauth';
  scopes: string[];
  webhookUrl: string | null;
  createdAt: string;
}

export interface ConnectRepoInput {
  integrationId: string;
  owner: string;
  name: string;
  branch: string;
  environment: string;
  strategy: Strategy;
  requiredContexts?: string[] | null;
  environmentUrl?: string | null;
  notifyChatId?: string | null;
  autoDeployEnabled?: boolean;
}

const STATE_TTL_SECONDS = 600;
const OAUTH_SCOPES = ['repo', 'workflow', 'admin:repo_hook'];

/** A GitHub error folded into a client answer: GitHub's message is never echoed (it may quote). */
function githubFailure(err: unknown, what: string): never {
  const status = (err as { status?: number }).status;
  if (status === 401) throw new BadRequestError(`GitHub refused the token while ${what}.`);
  if (status === 403 || status === 404)
    throw new NotFoundError(`GitHub has no such repository for this token (${what}).`);
  throw new ServiceUnavailableError(`GitHub is unavailable (${what}); try again.`);
}

/**
 * Connecting GitHub accounts (a pasted token or the OAuth web flow), connecting repositories with
 * their deploy config, and asking for deploys (manual, rollback) that the deploys worker runs.
 */
export class GithubService {
  constructor(
    private readonly config: Config['github'],
    private readonly pool: Pool,
    private readonly repo: GithubRepository,
    private readonly secrets: IntegrationSecrets,
    private readonly redis: Redis,
    private readonly redisPrefix: string,
    private readonly stateKey: Uint8Array,
    private readonly logger: Logger,
  ) {}

  private integrationView(r: IntegrationRow): IntegrationView {
    return {
      id: r.id,
      githubUserId: Number(r.github_user_id),
      login: r.github_login,
      kind: r.token_kind,
      scopes: r.scopes ?? [],
      webhookUrl: this.config.publicUrl ? `${this.config.publicUrl}/webhooks/github/${r.id}` : null,
      createdAt: r.created_at.toISOString(),
    };
  }

  /** Checks the token against GitHub (`GET /user`), then stores it sealed. */
  async connectToken(
    userId: string,
    token: string,
    kind: 'token' | 'oauth' = 'token',
    refreshToken: string | null = null,
  ): Promise<IntegrationView & { webhookSecret?: string }> {
    let user: { id: number; login: string };
    let scopes: string[];
    try {
      const res = await githubClient(this.config, token).rest.users.getAuthenticated();
      user = { id: res.data.id, login: res.data.login };
      scopes = String(res.headers['x-oauth-scopes'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    } catch (err) {
      githubFailure(err, 'checking the token');
    }
    const row = await this.repo.upsertIntegration({
      userId,
      githubUserId: user.id,
      login: user.login,
      kind,
      access: this.secrets.seal('access_token_encrypted', userId, user.id, token),
      refresh: refreshToken
        ? this.secrets.seal('refresh_token_encrypted', userId, user.id, refreshToken)
        : null,
      secret: null,
      scopes,
    });
    if (row.webhook_secret_encrypted) return this.integrationView(row);
    // The webhook secret is made once per integration and shown once, for a hook made by hand.
    const webhookSecret = this.secrets.newWebhookSecret();
    await this.repo.setWebhookSecret(
      row.id,
      this.secrets.seal('webhook_secret_encrypted', userId, user.id, webhookSecret),
    );
    return { ...this.integrationView(row), webhookSecret };
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.stateKey)
      .update(`vutler/v1/github-oauth-state:${payload}`)
      .digest('base64url');
  }

  private redirectUri(): string {
    if (!this.config.publicUrl)
      throw new ServiceUnavailableError('VUTLER_PUBLIC_URL is not set: the OAuth flow needs it.');
    return `${this.config.publicUrl}/api/github/oauth/callback`;
  }

  /** The GitHub authorize URL; `state` is bound to this user, expires and is single-use. */
  oauthStart(userId: string): { url: string } {
    if (!this.config.clientId || !this.config.clientSecret)
      throw new ServiceUnavailableError(
        'No GitHub OAuth app is configured (GITHUB_CLIENT_ID/SECRET).',
      );
    const payload = `${userId}.${Math.floor(Date.now() / 1000) + STATE_TTL_SECONDS}.${randomBytes(12).toString('base64url')}`;
    const state = `${payload}.${this.sign(payload)}`;
    const url = new URL(`${this.config.url}/login/oauth/authorize`);
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('redirect_uri', this.redirectUri());
    url.searchParams.set('scope', OAUTH_SCOPES.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('allow_signup', 'false');
    return { url: url.toString() };
  }

  /** The callback: checks `state`, exchanges `code` for a token, connects it. */
  async oauthCallback(userId: string, code: string, state: string) {
    const parts = state.split('.');
    const [u, exp, nonce, mac] = parts;
    const payload = `${u}.${exp}.${nonce}`;
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(mac ?? '');
    if (
      parts.length !== 4 ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected) ||
      u !== userId ||
      Number(exp) * 1000 < Date.now()
    )
      throw new BadRequestError('The OAuth state is invalid, expired or not yours; start again.');
    const fresh = await this.redis.set(
      `${this.redisPrefix}:gh:state:${nonce}`,
      '1',
      'EX',
      STATE_TTL_SECONDS,
      'NX',
    );
    if (fresh !== 'OK')
      throw new BadRequestError('This OAuth state was already used; start again.');
    if (!this.config.clientId || !this.config.clientSecret)
      throw new ServiceUnavailableError('No GitHub OAuth app is configured.');
    let token: string;
    let refresh: string | null = null;
    try {
      const { authentication } = await exchangeWebFlowCode({
        clientType: 'oauth-app',
        clientId: this.config.clientId,
        clientSecret: this.config.clientSecret,
        code,
        redirectUrl: this.redirectUri(),
        request: githubClient(this.config, undefined).request.defaults({
          baseUrl: this.config.url,
        }),
      });
      token = authentication.token;
      refresh = (authentication as { refreshToken?: string }).refreshToken ?? null;
    } catch (err) {
      this.logger.warn(
        { status: (err as { status?: number }).status },
        'GitHub OAuth code exchange failed',
      );
      throw new BadRequestError('GitHub did not accept the OAuth code; start again.');
    }
    return this.connectToken(userId, token, 'oauth', refresh);
  }

  async integrations(userId: string): Promise<IntegrationView[]> {
    return (await this.repo.integrationsOf(userId)).map((r) => this.integrationView(r));
  }

  async disconnect(userId: string, integrationId: string): Promise<void> {
    if (!(await this.repo.deleteIntegration(integrationId, userId))) throw new NotFoundError();
  }

  private async ownIntegration(userId: string, id: string): Promise<IntegrationRow> {
    const row = await this.repo.integration(id);
    if (!row || row.user_id !== userId) throw new NotFoundError();
    return row;
  }

  /**
   * Connects a repository the token can see, and creates its webhook (push, workflow_run) when
   * the token may administer it and `VUTLER_PUBLIC_URL` says where GitHub can reach us.
   */
  async connectRepo(
    userId: string,
    input: ConnectRepoInput,
  ): Promise<RepoView & { hookSigningKey?: string }> {
    const integration = await this.ownIntegration(userId, input.integrationId);
    const gh = githubClient(this.config, this.secrets.token(integration));
    let repoData: { id: number; permissions?: { admin?: boolean } };
    try {
      repoData = (await gh.rest.repos.get({ owner: input.owner, repo: input.name })).data;
    } catch (err) {
      githubFailure(err, 'reading the repository');
    }
    let row: RepoRow;
    try {
      row = await this.repo.insertRepo({
        integrationId: integration.id,
        userId,
        githubRepoId: repoData.id,
        owner: input.owner,
        name: input.name,
        branch: input.branch,
        environment: input.environment,
        strategy: input.strategy,
        requiredContexts: input.requiredContexts ?? null,
        environmentUrl: input.environmentUrl ?? null,
        notifyChatId: input.notifyChatId ?? null,
        autoDeploy: input.autoDeployEnabled ?? true,
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new ConflictError(
          'repo-connected',
          'This repository and environment are already connected.',
        );
      if ((err as { code?: string }).code === '23503') throw new NotFoundError('No such chat.');
      throw err;
    }
    if (repoData.permissions?.admin && this.config.publicUrl) {
      const secret = this.secrets.open(integration, 'webhook_secret_encrypted');
      try {
        const hook = await gh.rest.repos.createWebhook({
          owner: input.owner,
          repo: input.name,
          name: 'web',
          active: true,
          events: ['push', 'workflow_run'],
          config: {
            url: `${this.config.publicUrl}/webhooks/github/${integration.id}`,
            content_type: 'json',
            secret,
            insecure_ssl: '0',
          },
        });
        await this.repo.setHook(row.id, hook.data.id);
        row = { ...row, github_hook_id: String(hook.data.id) };
      } catch (err) {
        // 422 "Hook already exists" and the like: the repository stays connected without one.
        this.logger.warn(
          { status: (err as { status?: number }).status, repoId: row.id },
          'could not create the GitHub webhook',
        );
      }
    }
    const view = repoView(row);
    return input.strategy.type === 'hook'
      ? { ...view, hookSigningKey: this.secrets.hookKey(integration, row.id) }
      : view;
  }

  async repos(userId: string): Promise<RepoView[]> {
    return (await this.repo.reposOf(userId)).map(repoView);
  }

  async ownRepo(userId: string, repoId: string): Promise<RepoRow> {
    const r = await this.repo.repo(repoId);
    if (!r || r.user_id !== userId) throw new NotFoundError();
    return r;
  }

  async updateRepo(
    userId: string,
    repoId: string,
    patch: { autoDeployEnabled?: boolean; branch?: string; notifyChatId?: string | null },
  ): Promise<RepoView> {
    try {
      const r = await this.repo.updateRepo(repoId, userId, {
        autoDeploy: patch.autoDeployEnabled,
        branch: patch.branch,
        notifyChatId: patch.notifyChatId,
      });
      if (!r) throw new NotFoundError();
      return repoView(r);
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new NotFoundError('No such chat.');
      throw err;
    }
  }

  async history(userId: string, repoId: string, limit = 50): Promise<DeploymentView[]> {
    await this.ownRepo(userId, repoId);
    return (await this.repo.history(repoId, limit)).map(deploymentView);
  }

  /** Queues a deploy of `sha` (older queued ones superseded); the worker runs it. */
  async requestDeploy(
    userId: string,
    repoId: string,
    input: { sha: string; ref?: string; trigger: 'manual' | 'rollback' },
  ): Promise<DeploymentView> {
    const r = await this.ownRepo(userId, repoId);
    return withTransaction(this.pool, async (client) => {
      const repo = new GithubRepository(client);
      await repo.lockRepo(r.id);
      await repo.supersedeQueued(r.id, r.environment);
      const d = await repo.insertDeployment({
        repoId: r.id,
        environment: r.environment,
        ref: input.ref ?? `refs/heads/${r.branch}`,
        sha: input.sha,
        trigger: input.trigger,
        deliveryId: null,
        requestedBy: userId,
      });
      await repo.enqueue('deploy', { deploymentId: d.id });
      return deploymentView(d);
    });
  }

  /**
   * Redeploys the last successful commit: the newest successful deploy, or the one before it when
   * the newest deploy itself succeeded (the commit now live is the one to roll back from).
   */
  async rollback(userId: string, repoId: string): Promise<DeploymentView> {
    const r = await this.ownRepo(userId, repoId);
    const latest = (await this.repo.history(r.id, 20)).find((d) => d.state !== 'superseded');
    let target = await this.repo.lastSuccess(r.id, r.environment, 0);
    if (target && latest?.id === target.id) {
      let offset = 1;
      let prev = await this.repo.lastSuccess(r.id, r.environment, offset);
      while (prev && prev.sha === target.sha && offset < 50)
        prev = await this.repo.lastSuccess(r.id, r.environment, ++offset);
      target = prev;
    }
    if (!target)
      throw new ConflictError(
        'no-rollback-target',
        'There is no earlier successful deploy to roll back to.',
      );
    return this.requestDeploy(userId, repoId, {
      sha: target.sha,
      ref: target.ref,
      trigger: 'rollback',
    });
  }
}
