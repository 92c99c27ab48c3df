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
  /**
   * Called with jobs about to reach Redis for the first time, before they are added (the
   * agent-run "queued" status): whatever a worker publishes about a job comes after it. Jobs whose
   * add fails are dispatched, and announced, again later.
   */
  onDispatching?: (jobs: VutlerJob[]) => Promise<void>;
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
    let client: PoolClient | undefined;
    try {
      client = await this.pool.connect();
      const c = client;
      c.on('notification', this.onNotification);
      c.once('error', (err) => {
        this.logger.warn({ err: { message: err.message } }, 'outbox LISTEN connection lost');
        this.dropListener(c, err);
        // The poll covers the gap; listen again shortly.
        if (!this.stopped) setTimeout(() => void this.listen(), this.opts.pollMs).unref();
      });
      await c.query(`LISTEN ${OUTBOX_CHANNEL}`);
      if (this.stopped) {
        this.dropListener(c);
        return;
      }
      this.listener = c;
    } catch (err) {
      if (client) this.dropListener(client, err as Error);
      if (this.stopped) return;
      this.logger.warn({ err: { message: (err as Error).message } }, 'outbox LISTEN failed');
      setTimeout(() => void this.listen(), this.opts.pollMs).unref();
    }
  }

  private readonly onNotification = () => this.kick();
  private readonly released = new WeakSet<PoolClient>();

  /** Gives the LISTEN connection back once (destroyed on error, so the pool does not reuse it). */
  private dropListener(client: PoolClient, err?: Error): void {
    if (this.listener === client) this.listener = undefined;
    if (this.released.has(client)) return;
    this.released.add(client);
    client.removeListener('notification', this.onNotification);
    client.removeAllListeners('error');
    client.on('error', () => undefined);
    client.release(err ?? true);
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
        if (jobs.length) await this.opts.onDispatching?.(jobs).catch(() => undefined);
        await this.queues.add(jobs);
        dispatched.push(...jobs);
        return jobs.map((j) => j.id);
      });
      if (dispatched.length) this.logger.debug({ jobs: dispatched.length }, 'outbox relayed');
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
    // Destroyed rather than returned: a pooled connection must not keep listening.
    if (this.listener) this.dropListener(this.listener);
  }
}
