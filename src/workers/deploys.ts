import { type Job, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { DeploysService } from '../github/deploys.service.ts';
import type { Redis } from '../redis.ts';
import { parseJob } from './jobs.ts';
import type { OutboxRepository } from './outbox.repository.ts';
import { bullPrefix } from './queues.ts';

/**
 * The `deploys` BullMQ worker: parses the job, runs the deploy state machine, closes the outbox
 * row. The service already folds GitHub failures into an `error` deploy, so what is thrown here
 * (a database or Redis hiccup) is retried; the last attempt ends the deploy `error`.
 */
export function deploysWorker(
  config: Config,
  connection: Redis,
  service: DeploysService,
  outbox: OutboxRepository,
  logger: Logger,
): Worker {
  const processor = async (job: Job) => {
    const id = job.id ?? '';
    const log = logger.child({ queue: 'deploys', jobId: id, attempt: job.attemptsMade + 1 });
    const parsed = parseJob('deploys', job.name, id, job.data);
    try {
      const outcome =
        parsed.name === 'deploy'
          ? await service.run(parsed.data.deploymentId, id)
          : await service.workflowCompleted(
              parsed.data.deploymentId,
              parsed.data.runId,
              parsed.data.conclusion,
            );
      await outbox.markDone(id, 'done', null);
      log.info({ deploymentId: parsed.data.deploymentId, outcome }, 'deploy job finished');
      return outcome;
    } catch (err) {
      const e = err as Error;
      const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn({ err: { name: e.name, message: e.message }, final }, 'deploy job attempt failed');
      if (final) {
        await service
          .finish(parsed.data.deploymentId, 'error', 'the deploy worker failed repeatedly')
          .catch(() => undefined);
        await outbox.markDone(id, 'failed', 'internal').catch(() => undefined);
      }
      throw new Error(`${e.name} during deploy`);
    }
  };
  const worker = new Worker('deploys', processor, {
    connection,
    prefix: bullPrefix(config),
    concurrency: config.workers.concurrency,
    lockDuration: config.workers.lockMs,
    stalledInterval: config.workers.lockMs,
  });
  worker.on('error', (err) =>
    logger.warn({ err: { message: err.message } }, 'deploys worker error'),
  );
  return worker;
}

/** Ends deploys stuck in_progress (their worker died for good, or a workflow never reported). */
export function deploySweeper(service: DeploysService, everyMs: number, logger: Logger) {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    service
      .sweep()
      .then((ended) => {
        if (ended.length) logger.warn({ deployments: ended }, 'stale deploys ended as error');
      })
      .catch((err: Error) => logger.warn({ err: { message: err.message } }, 'deploy sweep failed'))
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
