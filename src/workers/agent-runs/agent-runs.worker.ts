import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import { requestContext } from '../../log.ts';
import type { Redis } from '../../redis.ts';
import { type AgentRunData, parseJob } from '../jobs.ts';
import { bullPrefix } from '../queues.ts';
import type { AgentRunService } from './agent-run.service.ts';
import { RetryLater, RunFailure } from './failures.ts';

/** Exponential (1 s, 2 s, 4 s … ≤ 60 s), but never sooner than the model's retry-after. */
export function retryDelayMs(attemptsMade: number, err: Error | undefined): number {
  const exp = Math.min(60_000, 1000 * 2 ** Math.max(0, attemptsMade - 1));
  return err instanceof RetryLater && err.retryAfterMs !== undefined
    ? Math.max(exp, Math.min(err.retryAfterMs, 10 * 60_000))
    : exp;
}

/**
 * The `agent-runs` BullMQ worker: a thin transport that parses the job, runs the service and maps
 * the outcome. A run that cannot succeed closes its outbox row, says why in the chat and throws
 * `UnrecoverableError`; a transient failure is retried, and the last attempt closes the row too.
 */
export function agentRunsWorker(
  config: Config,
  connection: Redis,
  service: AgentRunService,
  logger: Logger,
): Worker<AgentRunData> {
  // Every log line of the run (the gateway's included) carries queue and jobId.
  const processor = (job: Job<AgentRunData>) =>
    requestContext.run({ requestId: job.id ?? '', queue: 'agent-runs', jobId: job.id }, () =>
      runJob(job),
    );
  const runJob = async (job: Job<AgentRunData>) => {
    const id = job.id ?? '';
    const log = logger.child({ attempt: job.attemptsMade + 1 });
    const { data } = parseJob('agent-runs', job.name, id, job.data);
    try {
      const result = await service.run(id, data);
      log.info(
        { outcome: result.outcome, replyId: result.replyId, ms: result.timings },
        'agent run finished',
      );
      return result;
    } catch (err) {
      if (err instanceof RunFailure) {
        await service.fail(id, data, err);
        log.info({ outcome: 'failed', code: err.code }, 'agent run failed');
        throw new UnrecoverableError(err.code);
      }
      const e = err as Error;
      const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn({ err: { name: e.name, message: e.message }, final }, 'agent run attempt failed');
      if (final) {
        await service.fail(
          id,
          data,
          new RunFailure(err instanceof RetryLater ? 'model-unavailable' : 'internal'),
        );
        throw new UnrecoverableError(err instanceof RetryLater ? 'model-unavailable' : 'internal');
      }
      // The stored failedReason is this message: a code, never what the error quoted.
      throw err instanceof RetryLater ? err : new Error(`${e.name} during agent run`);
    }
  };
  const worker = new Worker<AgentRunData>('agent-runs', processor, {
    connection,
    prefix: bullPrefix(config),
    concurrency: config.workers.concurrency,
    lockDuration: config.workers.lockMs,
    stalledInterval: config.workers.lockMs,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
        retryDelayMs(attemptsMade, err),
    },
  });
  worker.on('error', (err) =>
    logger.warn({ err: { message: err.message } }, 'agent-runs worker error'),
  );
  return worker;
}
