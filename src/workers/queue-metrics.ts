import { QueueEvents } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { metrics, observe } from '../metrics.ts';
import type { Redis } from '../redis.ts';
import { QUEUE_NAMES } from './jobs.ts';
import { OutboxRepository } from './outbox.repository.ts';
import { bullPrefix, Queues } from './queues.ts';

/** The BullMQ states a scrape reports per queue (prioritized jobs are waiting ones). */
const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

export interface QueueMetrics {
  close(): Promise<void>;
}

/**
 * Feeds the queue gauges and job counters of `GET /metrics` from where the facts live, so a
 * serve node reports them whichever process ran the jobs: queue depths (BullMQ job counts) and
 * outbox lag (PostgreSQL) are read at scrape time; job outcomes come from each queue's event
 * stream (BullMQ `QueueEvents`: `completed`, and `failed` once a job has no attempts left).
 * These are cluster-wide: every node that runs this reports the same jobs, so aggregate
 * `vutler_jobs_total` across nodes with `max`, not `sum`.
 */
export function startQueueMetrics(deps: {
  config: Config;
  pool: Pool;
  redis: Redis;
  logger: Logger;
}): QueueMetrics {
  const { config, pool, redis, logger } = deps;
  const queues = new Queues(config, redis);
  const outbox = new OutboxRepository(pool);
  const events = QUEUE_NAMES.map((queue) => {
    // A blocking reader of the queue's event stream, on a connection of its own (its errors
    // are the reader's: a Redis outage must not surface as an unhandled 'error' event).
    const connection = redis.duplicate({ maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    const qe = new QueueEvents(queue, {
      connection,
      prefix: bullPrefix(config),
    });
    qe.on('completed', () => metrics.jobs.inc({ queue, outcome: 'completed' }));
    qe.on('failed', () => metrics.jobs.inc({ queue, outcome: 'failed' }));
    qe.on('error', (err) =>
      logger.debug({ err: { message: err.message }, queue }, 'queue events reader error'),
    );
    return qe;
  });
  const offs = [
    observe('queueDepth', async () => {
      const samples = await Promise.all(
        QUEUE_NAMES.map(async (queue) => {
          const counts = await queues.get(queue).getJobCounts(...STATES);
          return STATES.map((state) => ({ labels: { queue, state }, value: counts[state] ?? 0 }));
        }),
      );
      return samples.flat();
    }),
    observe('outboxLagSeconds', async () => [{ value: await outbox.lagSeconds() }]),
  ];
  return {
    close: async () => {
      for (const off of offs) off();
      // Each reader owns its duplicated connection: closing it disconnects that one.
      await Promise.all(events.map((qe) => qe.close().catch(() => undefined)));
      await queues.close();
    },
  };
}
