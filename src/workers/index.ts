import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import type { Redis } from '../redis.ts';
import { startAuditSealer } from './audit-sealer.ts';

export interface WorkerDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  /** A connection with `maxRetriesPerRequest: null`, as BullMQ workers require. */
  redis: Redis;
}

/** One running background component (a BullMQ worker, the outbox relay, ...). */
export interface RunningWorker {
  name: string;
  close: () => Promise<void>;
}

/** Registered worker factories. Feature issues add theirs here. */
export const workerFactories: Array<(deps: WorkerDeps) => Promise<RunningWorker> | RunningWorker> =
  [];

export async function startWorkers(deps: WorkerDeps): Promise<RunningWorker[]> {
  const running: RunningWorker[] = [];
  for (const factory of workerFactories) running.push(await factory(deps));
  deps.logger.info(
    { workers: running.map((w) => w.name) },
    running.length
      ? 'workers started'
      : 'worker connected; no job processors registered yet, idling',
  );
  return running;
}

workerFactories.push(startAuditSealer);
