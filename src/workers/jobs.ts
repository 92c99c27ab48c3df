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

export const JOB_SCHEMAS = {
  'agent-runs': { 'agent-run': agentRunData },
} as const;

export type QueueName = keyof typeof JOB_SCHEMAS;
export const QUEUE_NAMES = Object.keys(JOB_SCHEMAS) as QueueName[];

export type VutlerJob = {
  queue: 'agent-runs';
  name: 'agent-run';
  /** The outbox row id, also the BullMQ job id. */
  id: string;
  data: AgentRunData;
};

export class BadJobError extends Error {
  override name = 'BadJobError';
}

/** An outbox row (or a BullMQ job) as a typed job; throws `BadJobError` for anything unknown. */
export function parseJob(queue: string, name: string, id: string, data: unknown): VutlerJob {
  if (queue === 'agent-runs' && name === 'agent-run') {
    const parsed = agentRunData.safeParse(data);
    if (parsed.success) return { queue, name, id, data: parsed.data };
    throw new BadJobError(`bad ${queue}/${name} payload for job ${id}`);
  }
  throw new BadJobError(`unknown job ${queue}/${name} (${id})`);
}
