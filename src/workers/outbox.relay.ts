import type { Logger } from 'pino';
import type { Pool, PoolClient } from '../db/pool.ts';
import { BadJobError, parseJob, type QueueName, type VutlerJob } from './jobs.ts';
import type { OutboxRepository, OutboxRow } from './outbox.repository.ts';
import type { Queues } from './queues.ts';

export const OUTBOX_CHANNEL = 'vutler_outbox';
const BATCH = 200;
/** A row relayed this often without finishing is closed rather than re-enqueued forever. */
const MAX_DISPATCHES = 10;

export interface RelayOptions {
  queues: readonly QueueName[];
  pollMs: number;
  reconcileMs: number;
  /** Called after jobs reached Redis for the first time (the agent-run "queued" status). */
  onDispatched?: (jobs: VutlerJob[]) => Promise<void>;
}

/**
 * Moves outbox rows to BullMQ. Woken by NOTIFY at each commit that wrote rows, with a poll as
 * the fallback (a dropped LISTEN connection, a missed notification). A reconciler re-adds rows
 * whose effect has not committed but whose job Redis no longer has. Rows are marked done by the
 * processors, after their effect committed; BullMQ's `jobId` = row id keeps duplicates out.
 */
export class OutboxRelay {
  private listener: PoolClient | undefined;
  private timers: NodeJS.Timeout[] = [];
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly repo: OutboxRepository,
    private readonly queues: Queues,
    private readonly logger: Logger,
    private readonly opts: RelayOptions,
  ) {}

  async start(): Promise<void> {
    await this.listen();
    this.timers.push(setInterval(() => this.kick(), this.opts.pollMs));
    this.timers.push(
      setInterval(() => {
        this.reconcile().catch((err: Error) =>
          this.logger.warn({ err: { message: err.message } }, 'outbox reconcile failed'),
        );
      }, this.opts.reconcileMs),
    );
    for (const t of this.timers) t.unref();
    this.kick();
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    try {
      const client = await this.pool.connect();
      client.on('notification', () => this.kick());
      client.on('error', (err) => {
        this.logger.warn({ err: { message: err.message } }, 'outbox LISTEN connection lost');
        client.release(err);
        if (this.listener === client) this.listener = undefined;
        // The poll covers the gap; listen again shortly.
        setTimeout(() => void this.listen(), this.opts.pollMs).unref();
      });
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.listener = client;
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'outbox LISTEN failed');
      setTimeout(() => void this.listen(), this.opts.pollMs).unref();
    }
  }

  /** Drains now, or once more right after the drain in progress. */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drain()
      .catch((err: Error) => {
        this.logger.warn({ err: { message: err.message } }, 'outbox relay failed; will retry');
      })
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const dispatched: VutlerJob[] = [];
      const n = await this.repo.dispatchBatch(this.opts.queues, BATCH, async (rows) => {
        const jobs = this.parse(rows);
        await this.queues.add(jobs);
        dispatched.push(...jobs);
        return jobs.map((j) => j.id);
      });
      if (dispatched.length) {
        this.logger.debug({ jobs: dispatched.length }, 'outbox relayed');
        await this.opts.onDispatched?.(dispatched).catch(() => undefined);
      }
      if (n < BATCH || this.stopped) return;
    }
  }

  /** Rows that are not a known job are closed as failed, so they stop coming back. */
  private parse(rows: OutboxRow[]): VutlerJob[] {
    const jobs: VutlerJob[] = [];
    for (const r of rows) {
      try {
        jobs.push(parseJob(r.queue, r.job_name, r.id, r.payload));
      } catch (err) {
        if (!(err instanceof BadJobError)) throw err;
        this.logger.error({ outboxId: r.id, queue: r.queue }, 'outbox row is not a valid job');
        void this.repo.markDone(r.id, 'failed', 'bad-payload').catch(() => undefined);
      }
    }
    return jobs;
  }

  /** Re-adds what Redis lost; returns how many jobs it re-enqueued. */
  async reconcile(): Promise<number> {
    const abandoned = await this.repo.giveUp(MAX_DISPATCHES, 1);
    if (abandoned.length)
      this.logger.error(
        { outboxIds: abandoned },
        'outbox rows relayed too often; closed as failed',
      );
    const rows = await this.repo.openDispatched(this.opts.queues, 1, 1000);
    const jobs = this.parse(rows);
    const lost: VutlerJob[] = [];
    for (const queue of this.opts.queues) {
      const mine = jobs.filter((j) => j.queue === queue);
      if (!mine.length) continue;
      const gone = new Set(
        await this.queues.lost(
          queue,
          mine.map((j) => j.id),
        ),
      );
      for (const j of mine) if (gone.has(j.id) && !(await this.repo.isDone(j.id))) lost.push(j);
    }
    if (lost.length) {
      await this.queues.add(lost);
      await this.repo.markDispatched(lost.map((j) => j.id));
      this.logger.warn({ jobs: lost.length }, 'outbox reconciler re-enqueued jobs Redis had lost');
    }
    return lost.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.draining;
    if (this.listener) {
      const l = this.listener;
      this.listener = undefined;
      await l.query(`UNLISTEN ${OUTBOX_CHANNEL}`).catch(() => undefined);
      l.release();
    }
  }
}
