import { type JobsOptions, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Redis } from '../redis.ts';
import { QUEUE_NAMES, type QueueName, type VutlerJob } from './jobs.ts';

/** BullMQ keys live under `<VUTLER_REDIS_PREFIX>:bull:<queue>:…`, beside the app's other keys. */
export function bullPrefix(config: Config): string {
  return `${config.redis.prefix}:bull`;
}

/** Retry and retention per queue; the agent-run backoff honours the model's retry-after. */
export function jobOptions(config: Config, queue: QueueName): JobsOptions {
  switch (queue) {
    case 'agent-runs':
      return {
        attempts: config.workers.agentRunAttempts,
        backoff: { type: 'retry-after' },
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      };
    case 'deploys':
      // GitHub 5xx/timeouts are retried inside octokit; these attempts cover a dead worker or database.
      return {
        attempts: 5,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      };
  }
}

/** One Queue per name for adding jobs (the relay) and looking them up (the reconciler). */
export class Queues {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly config: Config,
    private readonly connection: Redis,
  ) {}

  get(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: bullPrefix(this.config) });
      q.on('error', () => undefined);
      this.queues.set(name, q);
    }
    return q;
  }

  /** Adds jobs with `jobId` = outbox id: a job already in Redis under that id is left as it is. */
  async add(jobs: VutlerJob[]): Promise<void> {
    const byQueue = new Map<QueueName, VutlerJob[]>();
    for (const j of jobs) byQueue.set(j.queue, [...(byQueue.get(j.queue) ?? []), j]);
    await Promise.all(
      [...byQueue].map(([name, list]) =>
        this.get(name).addBulk(
          list.map((j) => ({
            name: j.name,
            data: j.data,
            opts: { ...jobOptions(this.config, name), jobId: j.id },
          })),
        ),
      ),
    );
  }

  /**
   * Of `ids` in `queue`, those that will not run again: unknown to Redis (lost to a restart or a
   * FLUSHALL), or failed without closing their row (a worker that died mid-job too often). Failed
   * ones are removed, so adding them again makes a fresh job under the same id.
   */
  async lost(queue: QueueName, ids: string[]): Promise<string[]> {
    const q = this.get(queue);
    const out: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        const job = await q.getJob(id);
        if (!job) out.push(id);
        else if (await job.isFailed()) {
          await job.remove();
          out.push(id);
        }
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

export const KNOWN_QUEUES: readonly QueueName[] = QUEUE_NAMES;

/**
 * BullMQ's production guide: Redis must not evict keys, or jobs vanish silently. Checked once at
 * start; a managed Redis that refuses CONFIG gets a warning saying what to check by hand.
 */
export async function checkEvictionPolicy(redis: Redis, logger: Logger): Promise<string | null> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1] ?? null;
    if (policy !== 'noeviction')
      logger.warn(
        { policy },
        `Redis maxmemory-policy is "${policy}", not "noeviction": Redis may evict queued jobs under memory pressure (the outbox reconciler re-enqueues them, late). Set maxmemory-policy noeviction.`,
      );
    return policy;
  } catch {
    logger.warn(
      'could not read the Redis maxmemory-policy (CONFIG GET refused); make sure it is noeviction, or queued jobs may be evicted',
    );
    return null;
  }
}
