import { createHmac } from 'node:crypto';
import type { Octokit } from 'octokit';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import { type DeploymentRow, GithubRepository, type RepoRow } from './github.repository.ts';
import { githubClient } from './octokit.ts';
import type { IntegrationSecrets } from './secrets.ts';

export type FinalState = 'success' | 'failure' | 'error';
const FINAL: readonly string[] = ['success', 'failure', 'error'];

/** Posts the deploy note into the repository's chat as the built-in `github` agent. */
export interface DeployNotifier {
  note(input: {
    ownerId: string;
    chatId: string;
    deploymentId: string;
    createdAt: Date;
    text: string;
  }): Promise<'posted' | 'refused'>;
}

export type DeployOutcome =
  | 'gone'
  | 'already-finished'
  | 'superseded'
  | 'waiting'
  | 'already-running'
  | 'awaiting-workflow'
  | FinalState;

/** GitHub failed after octokit's retries: the deploy ends `error` with this as its reason. */
class GithubUnavailable extends Error {
  override name = 'GithubUnavailable';
}

interface Ctx {
  d: DeploymentRow;
  r: RepoRow;
  gh: Octokit;
  ghId: number;
}

/**
 * Runs one deploy as a resumable state machine: every step checks what already happened (in
 * PostgreSQL, or on GitHub for the deployment and its statuses) before doing it, so a job re-run
 * after a worker died mid-deploy finishes it with each status posted exactly once. At most one
 * deploy per (repo, environment) is in_progress (a partial unique index enforces it); a newer
 * queued deploy supersedes older ones, which never run.
 */
export class DeploysService {
  constructor(
    private readonly config: Config['github'],
    private readonly pool: Pool,
    private readonly repo: GithubRepository,
    private readonly secrets: IntegrationSecrets,
    private readonly notifier: DeployNotifier,
    private readonly logger: Logger,
    private readonly client: (token: string) => Octokit = (t) => githubClient(config, t),
  ) {}

  /** queued → in_progress, or why not. Serialised per repository by a row lock. */
  private claim(
    id: string,
    jobId: string,
  ): Promise<{ d: DeploymentRow; go: boolean; outcome?: DeployOutcome }> {
    return withTransaction(this.pool, async (client) => {
      const repo = new GithubRepository(client);
      const peek = await repo.deployment(id);
      if (!peek) return { d: undefined as never, go: false, outcome: 'gone' as const };
      await repo.lockRepo(peek.repo_id);
      const d = (await repo.deployment(id, true)) as DeploymentRow;
      // The same job again (retried after its worker died) resumes; any other job stands down.
      if (d.state === 'in_progress')
        return d.owner_job === jobId
          ? { d, go: true }
          : { d, go: false, outcome: 'already-running' as const };
      if (d.state !== 'queued')
        return {
          d,
          go: false,
          outcome: d.state === 'superseded' ? 'superseded' : ('already-finished' as const),
        };
      if (await repo.newerQueued(d.repo_id, d.environment, d.id)) {
        await repo.markSuperseded(d.id);
        return { d, go: false, outcome: 'superseded' as const };
      }
      // The running deploy queues the next one when it ends.
      if (await repo.otherRunning(d.repo_id, d.environment, d.id))
        return { d, go: false, outcome: 'waiting' as const };
      // Pushes that raced each other may have left older ones queued: they never run now.
      await repo.supersedeOlder(d.id);
      await repo.start(d.id, jobId);
      return { d: { ...d, state: 'in_progress' }, go: true };
    });
  }

  /** `jobId`: the outbox id of the job running it (a UUID), which alone may resume it. */
  async run(deploymentId: string, jobId: string): Promise<DeployOutcome> {
    const claimed = await this.claim(deploymentId, jobId);
    if (!claimed.go) return claimed.outcome as DeployOutcome;
    const d = claimed.d;
    const r = (await this.repo.repo(d.repo_id)) as RepoRow;
    const integration = await this.repo.integration(r.integration_id);
    if (!integration) return this.finish(d.id, 'error', 'the GitHub integration was removed');
    const gh = this.client(this.secrets.token(integration));
    let ctx: Ctx;
    try {
      const ghId = await this.ensureGithubDeployment(gh, d, r);
      ctx = { d, r, gh, ghId };
      const done = await this.statuses(ctx);
      const final = done.find((s) => FINAL.includes(s));
      // A previous attempt got as far as the final status: only the bookkeeping is left.
      if (final) return this.finish(d.id, final as FinalState, null);
      await this.ensureStatus(ctx, done, 'queued');
      await this.ensureStatus(ctx, done, 'in_progress');
    } catch (err) {
      if (err instanceof RefusedByGithub) return this.finish(d.id, 'error', err.message);
      return this.finish(d.id, 'error', this.reasonOf(err));
    }
    const s = r.strategy;
    if (s.type === 'workflow_dispatch') {
      if (!d.strategy_started_at) {
        try {
          await gh.rest.actions.createWorkflowDispatch({
            owner: r.owner,
            repo: r.name,
            workflow_id: s.workflow,
            ref: d.ref.replace(/^refs\/heads\//, ''),
            inputs: s.inputs ?? {},
          });
        } catch (err) {
          return this.finish(d.id, 'error', `workflow dispatch failed: ${this.reasonOf(err)}`);
        }
        await this.repo.strategyStarted(
          d.id,
          `${this.config.url}/${r.owner}/${r.name}/actions`,
          null,
        );
      }
      return 'awaiting-workflow';
    }
    await this.repo.strategyStarted(d.id, null, null);
    const result = await this.callHook(r, d, integration);
    return this.finish(d.id, result.state, result.reason);
  }

  /** The `workflow_run` completion of a dispatched deploy. */
  async workflowCompleted(deploymentId: string, runId: number | undefined, state: FinalState) {
    const d = await this.repo.deployment(deploymentId);
    if (d?.state !== 'in_progress') return 'already-finished' as const;
    const r = (await this.repo.repo(d.repo_id)) as RepoRow;
    const logUrl = runId ? `${this.config.url}/${r.owner}/${r.name}/actions/runs/${runId}` : null;
    return this.finish(
      deploymentId,
      state,
      state === 'success' ? null : `the workflow run ended ${state}`,
      logUrl,
    );
  }

  /** Ends in_progress deploys whose worker stopped reporting (died, or the workflow never did). */
  async sweep(): Promise<string[]> {
    const stale = await this.repo.stale(Math.ceil(this.config.staleMs / 1000));
    for (const id of stale)
      await this.finish(
        id,
        'error',
        'no progress reported in time (worker died or the workflow never completed)',
      );
    return stale;
  }

  /**
   * Final status on GitHub (best effort once GitHub is down: the row still ends), the row, the
   * chat note, then the next queued deploy of this repo and environment.
   */
  async finish(
    id: string,
    state: FinalState,
    reason: string | null,
    logUrl: string | null = null,
  ): Promise<FinalState | 'already-finished'> {
    const d = await this.repo.deployment(id);
    if (!d || (d.state !== 'in_progress' && d.state !== 'queued')) return 'already-finished';
    const r = (await this.repo.repo(d.repo_id)) as RepoRow;
    const integration = await this.repo.integration(r.integration_id);
    if (integration && d.github_deployment_id) {
      const ctx: Ctx = {
        d: { ...d, log_url: logUrl ?? d.log_url },
        r,
        gh: this.client(this.secrets.token(integration)),
        ghId: Number(d.github_deployment_id),
      };
      try {
        const done = await this.statuses(ctx);
        if (!done.some((s) => FINAL.includes(s)))
          await this.ensureStatus(ctx, done, state, reason ?? undefined);
      } catch (err) {
        this.logger.warn(
          { deploymentId: id, reason: this.reasonOf(err) },
          'final deployment status not posted',
        );
        if (!reason) reason = `final status not posted to GitHub: ${this.reasonOf(err)}`;
      }
    }
    const ended = await this.repo.finish(id, state, reason, logUrl);
    if (!ended) return 'already-finished';
    await this.noteOnce(ended, r);
    await withTransaction(this.pool, async (client) => {
      const repo = new GithubRepository(client);
      await repo.lockRepo(r.id);
      const next = await repo.nextQueued(r.id, ended.environment);
      if (next) await repo.enqueue('deploy', { deploymentId: next });
    });
    return state;
  }

  private async noteOnce(d: DeploymentRow, r: RepoRow): Promise<void> {
    if (!r.notify_chat_id || d.note_posted) return;
    const icon = d.state === 'success' ? '✅' : d.state === 'failure' ? '❌' : '⚠️';
    const text = [
      `${icon} Deploy of ${r.owner}/${r.name}@${d.sha.slice(0, 7)} to ${d.environment}: ${d.state}${d.trigger === 'push' ? '' : ` (${d.trigger})`}`,
      d.reason ? `Reason: ${d.reason}` : null,
      d.log_url ? `Log: ${d.log_url}` : null,
      r.environment_url && d.state === 'success' ? `Live: ${r.environment_url}` : null,
    ]
      .filter(Boolean)
      .join('\n');
    try {
      const out = await this.notifier.note({
        ownerId: r.user_id,
        chatId: r.notify_chat_id,
        deploymentId: d.id,
        createdAt: d.created_at,
        text,
      });
      if (out === 'posted') await this.repo.notePosted(d.id);
      else
        this.logger.warn(
          { deploymentId: d.id },
          'the github agent may not post to the deploy chat',
        );
    } catch (err) {
      this.logger.warn(
        { deploymentId: d.id, err: { message: (err as Error).message } },
        'deploy note failed',
      );
    }
  }

  private async ensureGithubDeployment(gh: Octokit, d: DeploymentRow, r: RepoRow): Promise<number> {
    if (d.github_deployment_id) return Number(d.github_deployment_id);
    const call = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        const status = (err as { status?: number }).status ?? 0;
        if (status >= 400 && status < 500)
          throw new RefusedByGithub(`GitHub refused the deployment (${status})`);
        throw new GithubUnavailable(this.reasonOf(err));
      }
    };
    // A previous attempt may have created it and died before saving its id: find it first.
    const existing = await call(() =>
      gh.rest.repos.listDeployments({
        owner: r.owner,
        repo: r.name,
        sha: d.sha,
        environment: d.environment,
        per_page: 100,
      }),
    );
    const found = existing.data.find(
      (x) => (x.payload as { vutler_deployment_id?: string } | null)?.vutler_deployment_id === d.id,
    );
    const ghId =
      found?.id ??
      (
        (
          await call(() =>
            gh.rest.repos.createDeployment({
              owner: r.owner,
              repo: r.name,
              ref: d.sha,
              environment: d.environment,
              auto_merge: false,
              ...(r.required_contexts ? { required_contexts: r.required_contexts } : {}),
              payload: { vutler_deployment_id: d.id },
              description: `Vutler ${d.trigger} deploy`,
            }),
          )
        ).data as { id?: number }
      ).id;
    // 202 (a merge was needed) carries no id: GitHub did not create it.
    if (typeof ghId !== 'number') throw new RefusedByGithub('GitHub did not create the deployment');
    await this.repo.setGithubId(d.id, ghId);
    return ghId;
  }

  private async statuses(ctx: Ctx): Promise<string[]> {
    try {
      const res = await ctx.gh.rest.repos.listDeploymentStatuses({
        owner: ctx.r.owner,
        repo: ctx.r.name,
        deployment_id: ctx.ghId,
        per_page: 100,
      });
      return res.data.map((s) => s.state);
    } catch (err) {
      throw new GithubUnavailable(this.reasonOf(err));
    }
  }

  private async ensureStatus(ctx: Ctx, done: string[], state: string, description?: string) {
    if (done.includes(state)) return;
    try {
      await ctx.gh.rest.repos.createDeploymentStatus({
        owner: ctx.r.owner,
        repo: ctx.r.name,
        deployment_id: ctx.ghId,
        state: state as 'queued',
        ...(ctx.d.log_url ? { log_url: ctx.d.log_url } : {}),
        ...(ctx.r.environment_url ? { environment_url: ctx.r.environment_url } : {}),
        ...(description ? { description: description.slice(0, 140) } : {}),
        auto_inactive: state === 'success',
      });
    } catch (err) {
      throw new GithubUnavailable(this.reasonOf(err));
    }
    done.push(state);
    await this.repo.heartbeat(ctx.d.id);
  }

  /** The deploy hook: a POST of the deploy's ids, HMAC-signed, with a timeout. */
  private async callHook(
    r: RepoRow,
    d: DeploymentRow,
    integration: Parameters<IntegrationSecrets['hookKey']>[0],
  ): Promise<{ state: FinalState; reason: string | null }> {
    if (r.strategy.type !== 'hook') return { state: 'error', reason: 'not a hook strategy' };
    const body = JSON.stringify({
      deploymentId: d.id,
      repository: `${r.owner}/${r.name}`,
      environment: d.environment,
      ref: d.ref,
      sha: d.sha,
      trigger: d.trigger,
    });
    const sig = createHmac('sha256', this.secrets.hookKey(integration, r.id))
      .update(body)
      .digest('hex');
    const timeoutMs = r.strategy.timeoutMs ?? 30_000;
    try {
      const res = await fetch(r.strategy.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'vutler-deploy',
          'x-vutler-signature-256': `sha256=${sig}`,
          // Re-sent unchanged if a worker died mid-call: the hook can dedupe on it.
          'x-vutler-deployment': d.id,
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return { state: 'success', reason: null };
      return { state: 'failure', reason: `the deploy hook answered ${res.status}` };
    } catch (err) {
      const name = (err as Error).name;
      return {
        state: 'error',
        reason:
          name === 'TimeoutError'
            ? `the deploy hook did not answer within ${timeoutMs} ms`
            : 'the deploy hook could not be reached',
      };
    }
  }

  /** A short reason for the history: a status code or a class of failure, never a body. */
  private reasonOf(err: unknown): string {
    if (err instanceof GithubUnavailable || err instanceof RefusedByGithub) return err.message;
    const status = (err as { status?: number }).status;
    if (status && status >= 500) return `GitHub answered ${status} after retries`;
    if (status) return `GitHub answered ${status}`;
    return 'GitHub did not answer in time after retries';
  }
}

class RefusedByGithub extends Error {
  override name = 'RefusedByGithub';
}
