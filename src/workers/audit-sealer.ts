import type { Logger } from 'pino';
import { AuditSealer } from '../audit/chain.service.ts';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { loadGatewayKeys } from '../gateway/keys.ts';

// Structural (a subset of WorkerDeps / RunningWorker), so index.ts can import this file without a cycle.
interface SealerDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
}

/**
 * The `audit` worker: a timed loop, not a BullMQ repeatable job. Its whole input is PostgreSQL
 * state (rows whose chain index is null), so a job would carry nothing, a lost or duplicated
 * repeat would change nothing, and Redis being flushed could not delay sealing. Several worker
 * replicas may run it: the sealer takes a per-user advisory lock and links only pending rows.
 */
export async function startAuditSealer(
  deps: SealerDeps,
): Promise<{ name: string; close: () => Promise<void> }> {
  const keys = await loadGatewayKeys(deps.config, deps.logger);
  const sealer = new AuditSealer(deps.pool, keys.keys, deps.logger.child({ worker: 'audit' }));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
      try {
        // Drain: keep going while a pass found a full batch of work.
        while (!stopped && (await sealer.sealOnce()) > 0);
      } catch (err) {
        deps.logger.warn(
          { worker: 'audit', err: { message: (err as Error).message } },
          'audit sealing pass failed; retrying at the next tick',
        );
      }
      if (!stopped) timer = setTimeout(tick, deps.config.audit.sealIntervalMs);
    })();
  };
  tick();
  return {
    name: 'audit-sealer',
    close: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
