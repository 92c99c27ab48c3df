import type { Pool, PoolClient } from '../db/pool.ts';

export interface OutboxRow {
  id: string;
  queue: string;
  job_name: string;
  payload: unknown;
}

const SQL = {
  // SKIP LOCKED: several worker processes drain the outbox side by side without waiting.
  lockUndispatched: `SELECT id, queue, job_name, payload FROM outbox
    WHERE dispatched_at IS NULL AND done_at IS NULL AND queue = ANY($1::text[])
    ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
  markDispatched: `UPDATE outbox SET dispatched_at = now(), attempts = attempts + 1 WHERE id = ANY($1::uuid[])`,
  openDispatched: `SELECT id, queue, job_name, payload FROM outbox
    WHERE done_at IS NULL AND dispatched_at IS NOT NULL AND dispatched_at < now() - make_interval(secs => $2)
      AND queue = ANY($1::text[])
    ORDER BY created_at LIMIT $3`,
  giveUp: `UPDATE outbox SET done_at = now(), outcome = 'failed', failure = 'gave-up'
    WHERE done_at IS NULL AND attempts >= $1 AND dispatched_at < now() - make_interval(secs => $2)
    RETURNING id`,
  markDone: `UPDATE outbox SET done_at = now(), outcome = $2, failure = $3 WHERE id = $1 AND done_at IS NULL`,
  isDone: `SELECT done_at IS NOT NULL AS done FROM outbox WHERE id = $1`,
  // The partial index idx_outbox_undispatched holds exactly these rows, oldest first.
  lag: `SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS lag FROM outbox
    WHERE dispatched_at IS NULL AND done_at IS NULL`,
} as const;

/** The only SQL over `outbox` on the worker side (writers insert rows in their own transactions). */
export class OutboxRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Locks up to `limit` rows not yet relayed, hands them to `relay`, and marks them dispatched
   * only if it succeeded — all in one transaction, so a crash in between leaves them pending.
   */
  async dispatchBatch(
    queues: readonly string[],
    limit: number,
    relay: (rows: OutboxRow[]) => Promise<string[]>,
  ): Promise<number> {
    const client: PoolClient = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(SQL.lockUndispatched, [queues, limit]);
      if (rows.length) await client.query(SQL.markDispatched, [await relay(rows)]);
      await client.query('COMMIT');
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Rows relayed at least `olderThanSeconds` ago whose effect has not committed yet. */
  async openDispatched(queues: readonly string[], olderThanSeconds: number, limit: number) {
    return (await this.pool.query<OutboxRow>(SQL.openDispatched, [queues, olderThanSeconds, limit]))
      .rows;
  }

  /** Closes rows relayed `attempts` times that still did not finish (a job that kills workers). */
  async giveUp(attempts: number, olderThanSeconds: number): Promise<string[]> {
    return (
      await this.pool.query<{ id: string }>(SQL.giveUp, [attempts, olderThanSeconds])
    ).rows.map((r) => r.id);
  }

  async markDispatched(ids: string[]): Promise<void> {
    if (ids.length) await this.pool.query(SQL.markDispatched, [ids]);
  }

  async markDone(id: string, outcome: 'done' | 'failed', failure: string | null): Promise<void> {
    await this.pool.query(SQL.markDone, [id, outcome, failure]);
  }

  async isDone(id: string): Promise<boolean> {
    return (await this.pool.query<{ done: boolean }>(SQL.isDone, [id])).rows[0]?.done ?? true;
  }

  /** Seconds the oldest row not yet relayed has waited (0 when none waits). */
  async lagSeconds(): Promise<number> {
    return (await this.pool.query<{ lag: number }>(SQL.lag)).rows[0]?.lag ?? 0;
  }
}
