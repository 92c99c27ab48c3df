import type { DeploymentRow, RepoRow, Strategy } from './github.repository.ts';

/** API shapes of the connector (no token, secret or hook URL secret ever appears here). */
export interface RepoView {
  id: string;
  integrationId: string;
  fullName: string;
  githubRepoId: number;
  branch: string;
  environment: string;
  strategy: Strategy;
  requiredContexts: string[] | null;
  environmentUrl: string | null;
  notifyChatId: string | null;
  autoDeployEnabled: boolean;
  webhookCreated: boolean;
  createdAt: string;
}

export interface DeploymentView {
  id: string;
  repoId: string;
  environment: string;
  ref: string;
  sha: string;
  trigger: DeploymentRow['trigger'];
  state: DeploymentRow['state'];
  reason: string | null;
  githubDeploymentId: number | null;
  logUrl: string | null;
  environmentUrl: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function repoView(r: RepoRow): RepoView {
  return {
    id: r.id,
    integrationId: r.integration_id,
    fullName: `${r.owner}/${r.name}`,
    githubRepoId: Number(r.github_repo_id),
    branch: r.branch,
    environment: r.environment,
    strategy: r.strategy,
    requiredContexts: r.required_contexts,
    environmentUrl: r.environment_url,
    notifyChatId: r.notify_chat_id,
    autoDeployEnabled: r.auto_deploy_enabled,
    webhookCreated: r.github_hook_id !== null,
    createdAt: r.created_at.toISOString(),
  };
}

export function deploymentView(d: DeploymentRow): DeploymentView {
  return {
    id: d.id,
    repoId: d.repo_id,
    environment: d.environment,
    ref: d.ref,
    sha: d.sha,
    trigger: d.trigger,
    state: d.state,
    reason: d.reason,
    githubDeploymentId: d.github_deployment_id === null ? null : Number(d.github_deployment_id),
    logUrl: d.log_url,
    environmentUrl: d.environment_url,
    createdAt: d.created_at.toISOString(),
    startedAt: d.started_at?.toISOString() ?? null,
    finishedAt: d.finished_at?.toISOString() ?? null,
  };
}
