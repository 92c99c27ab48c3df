import type { Queryable } from '../db/pool.ts';

export interface IntegrationRow {
  id: string;
  user_id: string;
  github_user_id: string;
  github_login: string | null;
  token_kind: 'token' | 'oauth';
  access_token_encrypted: Buffer;
  refresh_token_encrypted: Buffer | null;
  webhook_secret_encrypted: Buffer | null;
  scopes: string[] | null;
  created_at: Date;
}

export type Strategy =
  | { type: 'workflow_dispatch'; workflow: string; inputs?: Record<string, string> }
  | { type: 'hook'; url: string; timeoutMs?: number };

export interface RepoRow {
  id: string;
  integration_id: string;
  user_id: string;
  github_repo_id: string;
  owner: string;
  name: string;
  branch: string;
  environment: string;
  strategy: Strategy;
  required_contexts: string[] | null;
  environment_url: string | null;
  notify_chat_id: string | null;
  auto_deploy_enabled: boolean;
  github_hook_id: string | null;
  created_at: Date;
}

export type DeployState = 'queued' | 'in_progress' | 'success' | 'failure' | 'error' | 'superseded';

export interface DeploymentRow {
  id: string;
  repo_id: string;
  environment: string;
  ref: string;
  sha: string;
  trigger: 'push' | 'manual' | 'rollback';
  state: DeployState;
  reason: string | null;
  delivery_id: string | null;
  requested_by: string | null;
  github_deployment_id: string | null;
  owner_job: string | null;
  log_url: string | null;
  environment_url: string | null;
  strategy_started_at: Date | null;
  heartbeat_at: Date | null;
  note_posted: boolean;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const INTEGRATION_COLS = `id, user_id, github_user_id, github_login, token_kind, access_token_encrypted,
  refresh_token_encrypted, webhook_secret_encrypted, scopes, created_at`;
const REPO_COLS = `id, integration_id, user_id, github_repo_id, owner, name, branch, environment, strategy,
  required_contexts, environment_url, notify_chat_id, auto_deploy_enabled, github_hook_id, created_at`;

const SQL = {
  upsertIntegration: `INSERT INTO github_integrations
      (user_id, github_user_id, github_login, token_kind, access_token_encrypted, refresh_token_encrypted,
       webhook_secret_encrypted, scopes)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (user_id, github_user_id) DO UPDATE SET github_login = EXCLUDED.github_login,
      token_kind = EXCLUDED.token_kind, access_token_encrypted = EXCLUDED.access_token_encrypted,
      refresh_token_encrypted = EXCLUDED.refresh_token_encrypted, scopes = EXCLUDED.scopes, updated_at = now()
    RETURNING ${INTEGRATION_COLS}`,
  setWebhookSecret: `UPDATE github_integrations SET webhook_secret_encrypted = $2, updated_at = now() WHERE id = $1`,
  integration: `SELECT ${INTEGRATION_COLS} FROM github_integrations WHERE id = $1`,
  integrationsOf: `SELECT ${INTEGRATION_COLS} FROM github_integrations WHERE user_id = $1 ORDER BY created_at`,
  allIntegrations: `SELECT ${INTEGRATION_COLS} FROM github_integrations ORDER BY id FOR UPDATE`,
  resealIntegration: `UPDATE github_integrations SET access_token_encrypted = $2, refresh_token_encrypted = $3,
    webhook_secret_encrypted = $4 WHERE id = $1`,
  deleteIntegration: `DELETE FROM github_integrations WHERE id = $1 AND user_id = $2`,
  insertRepo: `INSERT INTO connected_repos (integration_id, user_id, github_repo_id, owner, name, branch,
      environment, strategy, required_contexts, environment_url, notify_chat_id, auto_deploy_enabled)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ${REPO_COLS}`,
  setHook: `UPDATE connected_repos SET github_hook_id = $2 WHERE id = $1`,
  updateRepo: `UPDATE connected_repos SET auto_deploy_enabled = COALESCE($3, auto_deploy_enabled),
      branch = COALESCE($4, branch), notify_chat_id = CASE WHEN $5 THEN $6::uuid ELSE notify_chat_id END,
      updated_at = now()
    WHERE id = $1 AND user_id = $2 RETURNING ${REPO_COLS}`,
  repo: `SELECT ${REPO_COLS} FROM connected_repos WHERE id = $1`,
  reposOf: `SELECT ${REPO_COLS} FROM connected_repos WHERE user_id = $1 ORDER BY created_at`,
  reposForEvent: `SELECT ${REPO_COLS} FROM connected_repos WHERE integration_id = $1 AND github_repo_id = $2`,
  // NO KEY UPDATE: serialises the deploy state machine per repository without blocking the
  // foreign-key checks (KEY SHARE) of a push inserting deployments meanwhile — FOR UPDATE would,
  // and a push holding a queued row while waiting on it deadlocks with a claim superseding that row.
  lockRepo: `SELECT id FROM connected_repos WHERE id = $1 FOR NO KEY UPDATE`,
  insertDelivery: `INSERT INTO webhook_deliveries (delivery_id, integration_id, event, action, outcome)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id`,
  supersedeQueued: `UPDATE deployments SET state = 'superseded', finished_at = now(),
      reason = 'superseded by a newer deploy'
    WHERE repo_id = $1 AND environment = $2 AND state = 'queued' RETURNING id`,
  insertDeployment: `INSERT INTO deployments (repo_id, environment, ref, sha, trigger, delivery_id, requested_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
  insertOutbox: `INSERT INTO outbox (queue, job_name, payload) VALUES ('deploys', $1, $2) RETURNING id`,
  // A push in one statement (one round trip, no explicit transaction): record the delivery (its
  // primary key dedupes), and for a fresh one queue a deployment and its outbox row per matching
  // repository, superseding the queued deploys this statement sees. Two pushes racing on one
  // repository may each miss the other's new row; the worker's claim supersedes those
  // (supersedeOlder), so only the newest runs. Data-modifying CTEs always run to completion.
  acceptPush: `WITH integ AS (SELECT id FROM github_integrations WHERE id = $1),
    candidates AS (
      SELECT r.id, r.environment FROM connected_repos r JOIN integ ON r.integration_id = integ.id
      WHERE r.github_repo_id = $2 AND r.auto_deploy_enabled AND r.branch = $3 AND $4::boolean),
    delivery AS (
      INSERT INTO webhook_deliveries (delivery_id, integration_id, event, action, outcome)
      SELECT $5, integ.id, 'push', $6,
        CASE WHEN EXISTS (SELECT 1 FROM candidates) THEN 'deploy' ELSE 'ignored' END FROM integ
      ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id),
    targets AS (SELECT c.id, c.environment FROM candidates c WHERE EXISTS (SELECT 1 FROM delivery)),
    superseded AS (
      UPDATE deployments d SET state = 'superseded', finished_at = now(),
        reason = 'superseded by a newer deploy'
      FROM targets t WHERE d.repo_id = t.id AND d.environment = t.environment AND d.state = 'queued'
      RETURNING d.id),
    inserted AS (
      INSERT INTO deployments (repo_id, environment, ref, sha, trigger, delivery_id)
      SELECT id, environment, $7, $8, 'push', $5 FROM targets RETURNING id),
    queued AS (
      INSERT INTO outbox (queue, job_name, payload)
      SELECT 'deploys', 'deploy', jsonb_build_object('deploymentId', id) FROM inserted RETURNING id)
    SELECT EXISTS (SELECT 1 FROM integ) AS known, EXISTS (SELECT 1 FROM delivery) AS fresh,
      ARRAY(SELECT id FROM inserted)::text[] AS deployments,
      (SELECT count(*) FROM queued)::int AS queued, (SELECT count(*) FROM superseded)::int AS superseded`,
  // When a deploy starts, the queued ones older than it of its repo and environment never will.
  supersedeOlder: `UPDATE deployments o SET state = 'superseded', finished_at = now(),
      reason = 'superseded by a newer deploy'
    FROM deployments d WHERE d.id = $1 AND o.repo_id = d.repo_id AND o.environment = d.environment
      AND o.state = 'queued' AND o.id <> d.id AND o.created_at <= d.created_at RETURNING o.id`,
  deployment: `SELECT * FROM deployments WHERE id = $1`,
  deploymentForUpdate: `SELECT * FROM deployments WHERE id = $1 FOR UPDATE`,
  running: `SELECT id FROM deployments WHERE repo_id = $1 AND environment = $2 AND state = 'in_progress' AND id <> $3`,
  // Compared in SQL: a JS Date would drop the microseconds and find the row itself "newer".
  newerQueued: `SELECT n.id FROM deployments n, deployments d WHERE d.id = $3 AND n.repo_id = $1
    AND n.environment = $2 AND n.state = 'queued' AND n.id <> d.id AND n.created_at >= d.created_at
    ORDER BY n.created_at DESC LIMIT 1`,
  oldestQueued: `SELECT id FROM deployments WHERE repo_id = $1 AND environment = $2 AND state = 'queued'
    ORDER BY created_at DESC LIMIT 1`,
  start: `UPDATE deployments SET state = 'in_progress', started_at = now(), heartbeat_at = now(), owner_job = $2 WHERE id = $1`,
  markSuperseded: `UPDATE deployments SET state = 'superseded', finished_at = now(),
    reason = 'superseded by a newer deploy' WHERE id = $1 AND state = 'queued'`,
  setGithubId: `UPDATE deployments SET github_deployment_id = $2, heartbeat_at = now() WHERE id = $1`,
  strategyStarted: `UPDATE deployments SET strategy_started_at = COALESCE(strategy_started_at, now()),
    log_url = COALESCE($2, log_url), environment_url = COALESCE($3, environment_url), heartbeat_at = now() WHERE id = $1`,
  heartbeat: `UPDATE deployments SET heartbeat_at = now() WHERE id = $1`,
  finish: `UPDATE deployments SET state = $2, reason = $3, log_url = COALESCE($4, log_url),
      finished_at = now() WHERE id = $1 AND state IN ('queued', 'in_progress') RETURNING *`,
  notePosted: `UPDATE deployments SET note_posted = TRUE WHERE id = $1`,
  history: `SELECT * FROM deployments WHERE repo_id = $1 ORDER BY created_at DESC LIMIT $2`,
  lastSuccess: `SELECT * FROM deployments WHERE repo_id = $1 AND environment = $2 AND state = 'success'
    ORDER BY finished_at DESC LIMIT 1 OFFSET $3`,
  runningForSha: `SELECT d.* FROM deployments d JOIN connected_repos r ON r.id = d.repo_id
    WHERE r.integration_id = $1 AND r.github_repo_id = $2 AND d.sha = $3 AND d.state = 'in_progress'
      AND d.strategy_started_at IS NOT NULL AND r.strategy->>'type' = 'workflow_dispatch'`,
  stale: `SELECT id FROM deployments WHERE state = 'in_progress' AND heartbeat_at < now() - make_interval(secs => $1)
    LIMIT 100`,
} as const;

/** The only SQL of the GitHub connector. */
export class GithubRepository {
  constructor(private readonly db: Queryable) {}

  async upsertIntegration(v: {
    userId: string;
    githubUserId: number;
    login: string;
    kind: 'token' | 'oauth';
    access: Uint8Array;
    refresh: Uint8Array | null;
    secret: Uint8Array | null;
    scopes: string[];
  }): Promise<IntegrationRow> {
    const { rows } = await this.db.query<IntegrationRow>(SQL.upsertIntegration, [
      v.userId,
      v.githubUserId,
      v.login,
      v.kind,
      v.access,
      v.refresh,
      v.secret,
      v.scopes,
    ]);
    return rows[0] as IntegrationRow;
  }

  async setWebhookSecret(id: string, secret: Uint8Array): Promise<void> {
    await this.db.query(SQL.setWebhookSecret, [id, secret]);
  }

  async integration(id: string): Promise<IntegrationRow | undefined> {
    return (await this.db.query<IntegrationRow>(SQL.integration, [id])).rows[0];
  }

  async integrationsOf(userId: string): Promise<IntegrationRow[]> {
    return (await this.db.query<IntegrationRow>(SQL.integrationsOf, [userId])).rows;
  }

  /** Inside a transaction: every integration, locked, for re-sealing. */
  async allIntegrationsLocked(): Promise<IntegrationRow[]> {
    return (await this.db.query<IntegrationRow>(SQL.allIntegrations)).rows;
  }

  async reseal(
    id: string,
    access: Uint8Array,
    refresh: Uint8Array | null,
    secret: Uint8Array | null,
  ): Promise<void> {
    await this.db.query(SQL.resealIntegration, [id, access, refresh, secret]);
  }

  async deleteIntegration(id: string, userId: string): Promise<boolean> {
    return ((await this.db.query(SQL.deleteIntegration, [id, userId])).rowCount ?? 0) > 0;
  }

  async insertRepo(v: {
    integrationId: string;
    userId: string;
    githubRepoId: number;
    owner: string;
    name: string;
    branch: string;
    environment: string;
    strategy: Strategy;
    requiredContexts: string[] | null;
    environmentUrl: string | null;
    notifyChatId: string | null;
    autoDeploy: boolean;
  }): Promise<RepoRow> {
    const { rows } = await this.db.query<RepoRow>(SQL.insertRepo, [
      v.integrationId,
      v.userId,
      v.githubRepoId,
      v.owner,
      v.name,
      v.branch,
      v.environment,
      JSON.stringify(v.strategy),
      v.requiredContexts,
      v.environmentUrl,
      v.notifyChatId,
      v.autoDeploy,
    ]);
    return rows[0] as RepoRow;
  }

  async setHook(repoId: string, hookId: number): Promise<void> {
    await this.db.query(SQL.setHook, [repoId, hookId]);
  }

  async updateRepo(
    id: string,
    userId: string,
    patch: { autoDeploy?: boolean; branch?: string; notifyChatId?: string | null },
  ): Promise<RepoRow | undefined> {
    const { rows } = await this.db.query<RepoRow>(SQL.updateRepo, [
      id,
      userId,
      patch.autoDeploy ?? null,
      patch.branch ?? null,
      patch.notifyChatId !== undefined,
      patch.notifyChatId ?? null,
    ]);
    return rows[0];
  }

  async repo(id: string): Promise<RepoRow | undefined> {
    return (await this.db.query<RepoRow>(SQL.repo, [id])).rows[0];
  }

  async reposOf(userId: string): Promise<RepoRow[]> {
    return (await this.db.query<RepoRow>(SQL.reposOf, [userId])).rows;
  }

  async reposForEvent(integrationId: string, githubRepoId: number): Promise<RepoRow[]> {
    return (await this.db.query<RepoRow>(SQL.reposForEvent, [integrationId, githubRepoId])).rows;
  }

  async lockRepo(id: string): Promise<void> {
    await this.db.query(SQL.lockRepo, [id]);
  }

  /** False when this delivery id was already recorded (a redelivery). */
  async insertDelivery(
    deliveryId: string,
    integrationId: string,
    event: string,
    action: string | null,
    outcome: string,
  ): Promise<boolean> {
    const { rows } = await this.db.query(SQL.insertDelivery, [
      deliveryId,
      integrationId,
      event,
      action,
      outcome,
    ]);
    return rows.length === 1;
  }

  async supersedeQueued(repoId: string, environment: string): Promise<string[]> {
    return (
      await this.db.query<{ id: string }>(SQL.supersedeQueued, [repoId, environment])
    ).rows.map((r) => r.id);
  }

  async insertDeployment(v: {
    repoId: string;
    environment: string;
    ref: string;
    sha: string;
    trigger: DeploymentRow['trigger'];
    deliveryId: string | null;
    requestedBy: string | null;
  }): Promise<DeploymentRow> {
    const { rows } = await this.db.query<DeploymentRow>(SQL.insertDeployment, [
      v.repoId,
      v.environment,
      v.ref,
      v.sha,
      v.trigger,
      v.deliveryId,
      v.requestedBy,
    ]);
    return rows[0] as DeploymentRow;
  }

  /**
   * A push delivery, whole, in one statement (see SQL.acceptPush). `known` false: the integration
   * is gone; `fresh` false: a redelivery (nothing queued).
   */
  async acceptPush(v: {
    integrationId: string;
    githubRepoId: number;
    /** The pushed branch; null for a tag or another ref. */
    branch: string | null;
    /** False for a deletion or an all-zero `after`: recorded, never deployed. */
    deployable: boolean;
    deliveryId: string;
    action: string | null;
    ref: string;
    sha: string;
  }): Promise<{ known: boolean; fresh: boolean; deployments: string[] }> {
    const { rows } = await this.db.query<{
      known: boolean;
      fresh: boolean;
      deployments: string[];
    }>(SQL.acceptPush, [
      v.integrationId,
      v.githubRepoId,
      v.branch,
      v.deployable,
      v.deliveryId,
      v.action,
      v.ref,
      v.sha,
    ]);
    const r = rows[0];
    return {
      known: r?.known ?? false,
      fresh: r?.fresh ?? false,
      deployments: r?.deployments ?? [],
    };
  }

  /** Marks the queued deploys older than `id` (same repo and environment) superseded. */
  async supersedeOlder(id: string): Promise<string[]> {
    return (await this.db.query<{ id: string }>(SQL.supersedeOlder, [id])).rows.map((r) => r.id);
  }

  async enqueue(jobName: string, payload: Record<string, unknown>): Promise<string> {
    const { rows } = await this.db.query<{ id: string }>(SQL.insertOutbox, [
      jobName,
      JSON.stringify(payload),
    ]);
    return (rows[0] as { id: string }).id;
  }

  async deployment(id: string, forUpdate = false): Promise<DeploymentRow | undefined> {
    return (
      await this.db.query<DeploymentRow>(forUpdate ? SQL.deploymentForUpdate : SQL.deployment, [id])
    ).rows[0];
  }

  async otherRunning(repoId: string, environment: string, id: string): Promise<boolean> {
    return (await this.db.query(SQL.running, [repoId, environment, id])).rows.length > 0;
  }

  async newerQueued(repoId: string, environment: string, id: string): Promise<string | undefined> {
    return (await this.db.query<{ id: string }>(SQL.newerQueued, [repoId, environment, id])).rows[0]
      ?.id;
  }

  /** The queued deploy to run next (the newest; older ones get superseded when it starts). */
  async nextQueued(repoId: string, environment: string): Promise<string | undefined> {
    return (await this.db.query<{ id: string }>(SQL.oldestQueued, [repoId, environment])).rows[0]
      ?.id;
  }

  async start(id: string, ownerJob: string): Promise<void> {
    await this.db.query(SQL.start, [id, ownerJob]);
  }

  async markSuperseded(id: string): Promise<void> {
    await this.db.query(SQL.markSuperseded, [id]);
  }

  async setGithubId(id: string, githubId: number): Promise<void> {
    await this.db.query(SQL.setGithubId, [id, githubId]);
  }

  async strategyStarted(id: string, logUrl: string | null, envUrl: string | null): Promise<void> {
    await this.db.query(SQL.strategyStarted, [id, logUrl, envUrl]);
  }

  async heartbeat(id: string): Promise<void> {
    await this.db.query(SQL.heartbeat, [id]);
  }

  /** Ends an open deploy; undefined if it had already ended (a second finisher does nothing). */
  async finish(
    id: string,
    state: 'success' | 'failure' | 'error',
    reason: string | null,
    logUrl: string | null,
  ): Promise<DeploymentRow | undefined> {
    return (await this.db.query<DeploymentRow>(SQL.finish, [id, state, reason, logUrl])).rows[0];
  }

  async notePosted(id: string): Promise<void> {
    await this.db.query(SQL.notePosted, [id]);
  }

  async history(repoId: string, limit: number): Promise<DeploymentRow[]> {
    return (await this.db.query<DeploymentRow>(SQL.history, [repoId, limit])).rows;
  }

  async lastSuccess(
    repoId: string,
    environment: string,
    offset: number,
  ): Promise<DeploymentRow | undefined> {
    return (await this.db.query<DeploymentRow>(SQL.lastSuccess, [repoId, environment, offset]))
      .rows[0];
  }

  async runningForSha(
    integrationId: string,
    githubRepoId: number,
    sha: string,
  ): Promise<DeploymentRow[]> {
    return (
      await this.db.query<DeploymentRow>(SQL.runningForSha, [integrationId, githubRepoId, sha])
    ).rows;
  }

  async stale(olderThanSeconds: number): Promise<string[]> {
    return (await this.db.query<{ id: string }>(SQL.stale, [olderThanSeconds])).rows.map(
      (r) => r.id,
    );
  }
}
