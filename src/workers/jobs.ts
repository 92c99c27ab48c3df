import { z } from 'zod';

/**
 * Every job a Vutler worker runs, as a discriminated union on `queue` + `name`. Payloads carry
 * ids only — never plaintext, keys or tokens — and the BullMQ job id is the outbox row's id, so
 * the same row enqueued twice is one job. Later features (GitHub deploys) add their variant here
 * and a processor in `src/workers/`.
 */

const agentName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/);

export const agentRunData = z
  .object({
    chatId: z.uuid(),
    /** The message that mentioned the agent. */
    messageId: z.uuid(),
    agentName,
    /** The message's author: the run acts with that person's grants, as their agent. */
    userId: z.uuid(),
  })
  .strict();
export type AgentRunData = z.infer<typeof agentRunData>;

/** `deploys/deploy`: run (or resume) one deployment row. */
export const deployData = z.object({ deploymentId: z.uuid() }).strict();
/** `deploys/workflow-run`: a dispatched workflow completed (from the `workflow_run` webhook). */
export const workflowRunData = z
  .object({
    deploymentId: z.uuid(),
    runId: z.number().int().positive().optional(),
    conclusion: z.enum(['success', 'failure', 'error']),
  })
  .strict();
export type DeployData = z.infer<typeof deployData>;
export type WorkflowRunData = z.infer<typeof workflowRunData>;

export const JOB_SCHEMAS = {
  'agent-runs': { 'agent-run': agentRunData },
  deploys: { deploy: deployData, 'workflow-run': workflowRunData },
} as const;

export type QueueName = keyof typeof JOB_SCHEMAS;
export const QUEUE_NAMES = Object.keys(JOB_SCHEMAS) as QueueName[];

export type VutlerJob =
  | {
      queue: 'agent-runs';
      name: 'agent-run';
      /** The outbox row id, also the BullMQ job id. */
      id: string;
      data: AgentRunData;
    }
  | { queue: 'deploys'; name: 'deploy'; id: string; data: DeployData }
  | { queue: 'deploys'; name: 'workflow-run'; id: string; data: WorkflowRunData };

export class BadJobError extends Error {
  override name = 'BadJobError';
}

/** An outbox row (or a BullMQ job) as a typed job; throws `BadJobError` for anything unknown. */
export function parseJob<Q extends string>(
  queue: Q,
  name: string,
  id: string,
  data: unknown,
): Q extends VutlerJob['queue'] ? Extract<VutlerJob, { queue: Q }> : VutlerJob;
export function parseJob(queue: string, name: string, id: string, data: unknown): VutlerJob {
  if (queue === 'agent-runs' && name === 'agent-run') {
    const parsed = agentRunData.safeParse(data);
    if (parsed.success) return { queue, name, id, data: parsed.data };
    throw new BadJobError(`bad ${queue}/${name} payload for job ${id}`);
  }
  if (queue === 'deploys' && (name === 'deploy' || name === 'workflow-run')) {
    const parsed = (name === 'deploy' ? deployData : workflowRunData).safeParse(data);
    if (parsed.success) return { queue, name, id, data: parsed.data } as VutlerJob;
    throw new BadJobError(`bad ${queue}/${name} payload for job ${id}`);
  }
  throw new BadJobError(`unknown job ${queue}/${name} (${id})`);
}
