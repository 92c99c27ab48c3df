import { randomBytes } from 'node:crypto';
import { Webhooks } from '@octokit/webhooks';
import { z } from 'zod';
import { type Pool, withTransaction } from '../db/pool.ts';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../errors.ts';
import { GithubRepository, type IntegrationRow } from './github.repository.ts';
import type { IntegrationSecrets } from './secrets.ts';

/** What the handler did with a delivery (also `webhook_deliveries.outcome`). */
export type DeliveryOutcome = 'deploy' | 'ignored' | 'ping' | 'workflow-run' | 'duplicate';

export interface DeliveryResult {
  outcome: DeliveryOutcome;
  deployments: string[];
}

const pushSchema = z.object({
  ref: z.string(),
  after: z.string(),
  deleted: z.boolean().optional(),
  repository: z.object({ id: z.number().int() }),
});
const workflowRunSchema = z.object({
  action: z.string(),
  workflow_run: z.object({
    id: z.number().int(),
    head_sha: z.string(),
    conclusion: z.string().nullable(),
    status: z.string().optional(),
  }),
  repository: z.object({ id: z.number().int() }),
});
const NIL = '00000000-0000-0000-0000-000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ZERO_SHA = /^0+$/;

/**
 * Verifies, dedupes and records GitHub deliveries. One transaction per delivery: the delivery
 * row (its primary key is the dedupe), the deployments it queues (older queued ones superseded)
 * and their outbox rows — so a delivery is either wholly taken or not at all.
 */
export class WebhooksService {
  /** A secret no integration has: unknown integrations are verified against it, for timing. */
  private readonly dummy = new Webhooks({ secret: randomBytes(32).toString('hex') });

  constructor(
    private readonly pool: Pool,
    private readonly repo: GithubRepository,
    private readonly secrets: IntegrationSecrets,
  ) {}

  /**
   * Throws 404 for an unknown integration and 401 for a bad signature, after the same work: a
   * lookup and one HMAC verification either way, so timing does not tell them apart.
   */
  async verify(integrationId: string, body: string, signature: string | undefined) {
    const integration = await this.repo.integration(UUID.test(integrationId) ? integrationId : NIL);
    const secret = integration && this.secrets.open(integration, 'webhook_secret_encrypted');
    const hooks = secret ? new Webhooks({ secret }) : this.dummy;
    const ok = await hooks.verify(body, signature ?? '').catch(() => false);
    if (!integration || !secret) throw new NotFoundError();
    if (!ok || !signature)
      throw new UnauthorizedError('The X-Hub-Signature-256 signature does not match.');
    return integration;
  }

  async receive(
    integration: IntegrationRow,
    event: string,
    deliveryId: string,
    payload: unknown,
  ): Promise<DeliveryResult> {
    const action =
      typeof (payload as { action?: unknown })?.action === 'string'
        ? ((payload as { action: string }).action as string).slice(0, 100)
        : null;
    return withTransaction(this.pool, async (client) => {
      const repo = new GithubRepository(client);
      const record = (outcome: Exclude<DeliveryOutcome, 'duplicate'>) =>
        repo.insertDelivery(deliveryId, integration.id, event, action, outcome);
      if (event === 'push') {
        const push = pushSchema.safeParse(payload);
        if (!push.success) throw new BadRequestError('The push payload is not one GitHub sends.');
        const p = push.data;
        const branch = p.ref.startsWith('refs/heads/') ? p.ref.slice('refs/heads/'.length) : null;
        const targets =
          branch && !p.deleted && !ZERO_SHA.test(p.after)
            ? (await repo.reposForEvent(integration.id, p.repository.id)).filter(
                (r) => r.auto_deploy_enabled && r.branch === branch,
              )
            : [];
        if (!(await record(targets.length ? 'deploy' : 'ignored')))
          return { outcome: 'duplicate', deployments: [] };
        const deployments: string[] = [];
        for (const r of targets) {
          await repo.lockRepo(r.id);
          await repo.supersedeQueued(r.id, r.environment);
          const d = await repo.insertDeployment({
            repoId: r.id,
            environment: r.environment,
            ref: p.ref,
            sha: p.after,
            trigger: 'push',
            deliveryId,
            requestedBy: null,
          });
          await repo.enqueue('deploy', { deploymentId: d.id });
          deployments.push(d.id);
        }
        return { outcome: deployments.length ? 'deploy' : 'ignored', deployments };
      }
      if (event === 'workflow_run') {
        const run = workflowRunSchema.safeParse(payload);
        const running =
          run.success && run.data.action === 'completed'
            ? await repo.runningForSha(
                integration.id,
                run.data.repository.id,
                run.data.workflow_run.head_sha,
              )
            : [];
        if (!(await record(running.length ? 'workflow-run' : 'ignored')))
          return { outcome: 'duplicate', deployments: [] };
        for (const d of running)
          await repo.enqueue('workflow-run', {
            deploymentId: d.id,
            runId: run.data?.workflow_run.id,
            conclusion: conclusionOf(run.data?.workflow_run.conclusion ?? null),
          });
        return {
          outcome: running.length ? 'workflow-run' : 'ignored',
          deployments: running.map((d) => d.id),
        };
      }
      const outcome = event === 'ping' ? 'ping' : 'ignored';
      if (!(await record(outcome))) return { outcome: 'duplicate', deployments: [] };
      return { outcome, deployments: [] };
    });
  }
}

/** GitHub's run conclusions, folded onto deployment states. */
function conclusionOf(c: string | null): 'success' | 'failure' | 'error' {
  if (c === 'success') return 'success';
  if (c === 'failure' || c === 'cancelled' || c === 'timed_out' || c === 'action_required')
    return 'failure';
  return 'error';
}
