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
/** Integrations whose verifier is kept (each a few hundred bytes). */
const MAX_VERIFIERS = 1024;

/**
 * Verifies, dedupes and records GitHub deliveries. One transaction per delivery: the delivery
 * row (its primary key is the dedupe), the deployments it queues (older queued ones superseded)
 * and their outbox rows — so a delivery is either wholly taken or not at all.
 */
export class WebhooksService {
  /** A secret no integration has: unknown integrations are verified against it, for timing. */
  private readonly dummy = new Webhooks({ secret: randomBytes(32).toString('hex') });
  /**
   * Verifiers of recently seen integrations, keyed by id and checked against the sealed secret
   * read on every request: a rotated or removed secret is never used, and a hit skips the
   * unsealing and setup. The opened secrets stay in this process's memory only (never logged,
   * never stored); the map is bounded, oldest out first.
   */
  private readonly verifiers = new Map<string, { sealed: Buffer; hooks: Webhooks }>();

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
    const hooks = integration ? this.verifierFor(integration) : undefined;
    if (!hooks && UUID.test(integrationId)) this.verifiers.delete(integrationId);
    const ok = await (hooks ?? this.dummy).verify(body, signature ?? '').catch(() => false);
    if (!integration || !hooks) throw new NotFoundError();
    if (!ok || !signature)
      throw new UnauthorizedError('The X-Hub-Signature-256 signature does not match.');
    return integration;
  }

  private verifierFor(row: IntegrationRow): Webhooks | undefined {
    const sealed = row.webhook_secret_encrypted;
    if (!sealed) return undefined;
    const hit = this.verifiers.get(row.id);
    if (hit?.sealed.equals(sealed)) {
      // Most recently used last, so eviction takes the coldest.
      this.verifiers.delete(row.id);
      this.verifiers.set(row.id, hit);
      return hit.hooks;
    }
    const secret = this.secrets.open(row, 'webhook_secret_encrypted');
    if (!secret) return undefined;
    const hooks = new Webhooks({ secret });
    this.verifiers.delete(row.id);
    this.verifiers.set(row.id, { sealed: Buffer.from(sealed), hooks });
    if (this.verifiers.size > MAX_VERIFIERS) {
      const oldest = this.verifiers.keys().next().value;
      if (oldest !== undefined) this.verifiers.delete(oldest);
    }
    return hooks;
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
    if (event === 'push') return this.push(integration, deliveryId, action, payload);
    return withTransaction(this.pool, async (client) => {
      const repo = new GithubRepository(client);
      const record = (outcome: Exclude<DeliveryOutcome, 'duplicate'>) =>
        repo.insertDelivery(deliveryId, integration.id, event, action, outcome);
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

  /** A push: the delivery, its deployments and their outbox rows in one statement. */
  private async push(
    integration: IntegrationRow,
    deliveryId: string,
    action: string | null,
    payload: unknown,
  ): Promise<DeliveryResult> {
    const push = pushSchema.safeParse(payload);
    if (!push.success) throw new BadRequestError('The push payload is not one GitHub sends.');
    const p = push.data;
    const branch = p.ref.startsWith('refs/heads/') ? p.ref.slice('refs/heads/'.length) : null;
    const r = await this.repo.acceptPush({
      integrationId: integration.id,
      githubRepoId: p.repository.id,
      branch,
      deployable: branch !== null && !p.deleted && !ZERO_SHA.test(p.after),
      deliveryId,
      action,
      ref: p.ref,
      sha: p.after,
    });
    // Removed between the signature check and now: as if it had never existed.
    if (!r.known) throw new NotFoundError();
    if (!r.fresh) return { outcome: 'duplicate', deployments: [] };
    return { outcome: r.deployments.length ? 'deploy' : 'ignored', deployments: r.deployments };
  }
}

/** GitHub's run conclusions, folded onto deployment states. */
function conclusionOf(c: string | null): 'success' | 'failure' | 'error' {
  if (c === 'success') return 'success';
  if (c === 'failure' || c === 'cancelled' || c === 'timed_out' || c === 'action_required')
    return 'failure';
  return 'error';
}
