/**
 * The GitHub connector for people (`/api/github`): connected accounts (a pasted token or the
 * OAuth web flow), repositories and their deploy config, deploy history, manual deploys and
 * rollback. Nothing here is end-to-end encrypted: the server holds the token (sealed at rest)
 * because it acts on GitHub for the person.
 */
import type { IntegrationView } from '../github/github.service.ts';
import type { DeploymentView, RepoView } from '../github/views.ts';
import type { ClientContext } from './context.ts';

export type { DeploymentView, IntegrationView, RepoView };

/** The create answer carries the webhook secret once (for setting up the webhook by hand). */
export type NewIntegration = IntegrationView & { webhookSecret?: string };

export interface ConnectRepoInput {
  integrationId: string;
  owner: string;
  name: string;
  branch: string;
  environment?: string;
  strategy: RepoView['strategy'];
  environmentUrl?: string | null;
  notifyChatId?: string | null;
  autoDeployEnabled?: boolean;
}

const enc = encodeURIComponent;

export class GithubClient {
  constructor(private readonly c: Pick<ClientContext, 'http'>) {}

  async integrations(): Promise<IntegrationView[]> {
    return (
      await this.c.http.request<{ integrations: IntegrationView[] }>('/api/github/integrations')
    ).integrations;
  }

  /** Checks the token with GitHub and keeps it (sealed); the answer shows the webhook secret once. */
  connectToken(token: string): Promise<NewIntegration> {
    return this.c.http.request<NewIntegration>('/api/github/integrations', { body: { token } });
  }

  /** GitHub's authorize URL for the OAuth web flow (409 `github-oauth-not-configured` without an app). */
  async oauthStart(): Promise<string> {
    return (
      await this.c.http.request<{ url: string }>('/api/github/oauth/start', { method: 'POST' })
    ).url;
  }

  async disconnect(integrationId: string): Promise<void> {
    await this.c.http.request(`/api/github/integrations/${enc(integrationId)}`, {
      method: 'DELETE',
    });
  }

  async repos(): Promise<RepoView[]> {
    return (await this.c.http.request<{ repos: RepoView[] }>('/api/github/repos')).repos;
  }

  connectRepo(input: ConnectRepoInput): Promise<RepoView & { hookSigningKey?: string }> {
    return this.c.http.request('/api/github/repos', { body: input });
  }

  updateRepo(
    repoId: string,
    patch: { autoDeployEnabled?: boolean; branch?: string; notifyChatId?: string | null },
  ): Promise<RepoView> {
    return this.c.http.request(`/api/github/repos/${enc(repoId)}`, {
      method: 'PATCH',
      body: patch,
    });
  }

  async deployments(repoId: string, limit = 20): Promise<DeploymentView[]> {
    return (
      await this.c.http.request<{ deployments: DeploymentView[] }>(
        `/api/github/repos/${enc(repoId)}/deployments`,
        { query: { limit: String(limit) } },
      )
    ).deployments;
  }

  deploy(repoId: string, sha: string): Promise<DeploymentView> {
    return this.c.http.request(`/api/github/repos/${enc(repoId)}/deployments`, { body: { sha } });
  }

  /** Redeploys the last successful commit before the newest deploy (409 `no-rollback-target`). */
  rollback(repoId: string): Promise<DeploymentView> {
    return this.c.http.request(`/api/github/repos/${enc(repoId)}/rollback`, { method: 'POST' });
  }
}
