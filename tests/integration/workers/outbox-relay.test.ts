import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../../../src/workers/outbox.relay.ts';
import { OutboxRepository } from '../../../src/workers/outbox.repository.ts';
import { Queues } from '../../../src/workers/queues.ts';
import { silentLogger, testConfig } from '../../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { TEST_REDIS_URL } from '../../helpers/env.ts';

/** Polls an async check every 25 ms until it returns something truthy; fails naming `what`. */
async function eventually<T>(check: () => Promise<T>, what: string, ms = 5_000): Promise<T> {
  for (const deadline = Date.now() + ms; ; ) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const payload = () => ({
  chatId: randomUUID(),
  messageId: randomUUID(),
  agentName: 'claude',
  userId: randomUUID(),
});

describe(OutboxRelay.name, () => {
  let db: TestDatabase;
  let redis: Redis;
  let queues: Queues;
  const config = testConfig({ VUTLER_REDIS_PREFIX: `r${randomBytes(5).toString('hex')}` });
  const relays: OutboxRelay[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    queues = new Queues(config, redis);
  });
  afterAll(async () => {
    for (const r of relays) await r.stop();
    await queues.get('agent-runs').obliterate({ force: true });
    await queues.close();
    redis.disconnect();
    await db.drop();
  });

  const relay = async (pollMs: number) => {
    const r = new OutboxRelay(db.pool, new OutboxRepository(db.pool), queues, silentLogger, {
      queues: ['agent-runs'],
      pollMs,
      reconcileMs: 3_600_000,
    });
    relays.push(r);
    await r.start();
    return r;
  };
  const insert = async (data: unknown = payload(), name = 'agent-run') =>
    (
      await db.pool.query<{ id: string }>(
        `INSERT INTO outbox (queue, job_name, payload) VALUES ('agent-runs', $1, $2) RETURNING id`,
        [name, JSON.stringify(data)],
      )
    ).rows[0]!.id;
  const inRedis = (id: string) => queues.get('agent-runs').getJob(id);
  const row = async (id: string) =>
    (
      await db.pool.query(
        'SELECT dispatched_at, done_at, outcome, failure, attempts FROM outbox WHERE id = $1',
        [id],
      )
    ).rows[0];

  it('relays a committed row at once on NOTIFY, as a job whose id is the row id and whose data is ids', async () => {
    const r = await relay(3_600_000); // no poll: only the notification can wake it
    const data = payload();
    const id = await insert(data);
    const job = await eventually(() => inRedis(id), 'the job', 2_000);
    expect(job?.id).toBe(id);
    expect(job?.name).toBe('agent-run');
    expect(job?.data).toEqual(data);
    expect(job?.opts.attempts).toBe(config.workers.agentRunAttempts);
    // Marked dispatched in the transaction that locked it, once the job is in Redis.
    expect(
      await eventually(async () => (await row(id)).dispatched_at, 'dispatched_at'),
    ).toBeInstanceOf(Date);
    await r.stop();
  });

  it('still relays by polling when no notification comes', async () => {
    await db.pool.query('ALTER TABLE outbox DISABLE TRIGGER outbox_notify');
    try {
      await relay(200);
      const id = await insert();
      expect((await eventually(() => inRedis(id), 'the polled job'))?.id).toBe(id);
    } finally {
      await db.pool.query('ALTER TABLE outbox ENABLE TRIGGER outbox_notify');
    }
  });

  it('re-enqueues open rows whose jobs Redis lost, never done ones, and never duplicates', async () => {
    const r = relays.at(-1)!;
    const open = await insert();
    const closed = await insert();
    for (const id of [open, closed]) await eventually(() => inRedis(id), 'the jobs');
    await new OutboxRepository(db.pool).markDone(closed, 'done', null);
    // Nothing lost yet: nothing to do.
    await new Promise((res) => setTimeout(res, 1100));
    expect(await r.reconcile()).toBe(0);

    await queues.get('agent-runs').obliterate({ force: true }); // what a FLUSHALL does to us
    expect(await inRedis(open)).toBeUndefined();
    expect(await r.reconcile()).toBeGreaterThanOrEqual(1);
    expect((await inRedis(open))?.id).toBe(open);
    expect(await inRedis(closed)).toBeUndefined();
    expect((await row(open)).attempts).toBe(2);

    // Relaying a row again while its job exists adds nothing.
    await db.pool.query('UPDATE outbox SET dispatched_at = NULL WHERE id = $1', [open]);
    r.kick();
    await eventually(async () => (await row(open)).dispatched_at, 'the second dispatch');
    const counts = await queues.get('agent-runs').getJobCounts('wait');
    const waiting = await queues.get('agent-runs').getWaiting();
    expect(waiting.filter((j) => j.id === open)).toHaveLength(1);
    expect(counts.wait).toBe(waiting.length);
  });

  it('closes a row that is not a valid job as failed instead of relaying it', async () => {
    const bad = await insert({ chatId: 'x', text: 'plaintext would be a bug' });
    const unknown = await insert(payload(), 'mystery');
    await eventually(
      async () => (await row(bad)).done_at && (await row(unknown)).done_at,
      'both rows closed',
    );
    expect(await row(bad)).toMatchObject({ outcome: 'failed', failure: 'bad-payload' });
    expect(await row(unknown)).toMatchObject({ outcome: 'failed', failure: 'bad-payload' });
    expect(await inRedis(bad)).toBeUndefined();
  });

  describe('when its LISTEN connection is killed around stop()', () => {
    const listeners = async () =>
      (
        await db.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
             AND query = 'LISTEN vutler_outbox' AND pid <> pg_backend_pid()`,
        )
      ).rows.map((r) => r.pid);
    const kill = (pid: number) => db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    let uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);
    beforeAll(async () => {
      // The earlier tests' relays stop, so every LISTEN backend left is the one under test.
      for (const r of relays) await r.stop();
      process.prependListener('uncaughtException', onUncaught);
    });
    afterAll(() => {
      process.removeListener('uncaughtException', onUncaught);
    });

    /** The relay's own LISTEN backend, once it is up (others' have stopped by then). */
    const started = async (pollMs = 100) => {
      const before = new Set(await listeners());
      const r = await relay(pollMs);
      const pid = await eventually(
        async () => (await listeners()).find((p) => !before.has(p)),
        'the LISTEN backend',
      );
      return { r, pid: pid as number };
    };
    // The one bounded wait: "does not listen again" is the absence of an event. Longer than the
    // relay's retry delay (pollMs), so a re-listen after stop() would have shown by then.
    const settle = () => new Promise((res) => setTimeout(res, 400));

    it.each([
      [
        'right after stop() returned',
        async (r: OutboxRelay, pid: number) => {
          await r.stop();
          await kill(pid);
        },
      ],
      [
        'while stop() is running',
        async (r: OutboxRelay, pid: number) => {
          await Promise.all([r.stop(), kill(pid)]);
        },
      ],
      [
        'just before stop()',
        async (r: OutboxRelay, pid: number) => {
          await kill(pid);
          await r.stop();
        },
      ],
    ])('releases it exactly once, %s, and does not listen again', async (_when, scenario) => {
      uncaught = [];
      const { r, pid } = await started();
      // The pool lets go of the LISTEN connection (destroyed, not returned) when the relay does.
      const removed = new Promise<void>((resolve) => {
        const onRemove = (c: pg.PoolClient) => {
          if ((c as pg.PoolClient & { processID?: number }).processID !== pid) return;
          db.pool.off('remove', onRemove);
          resolve();
        };
        db.pool.on('remove', onRemove);
      });
      await scenario(r, pid);
      await removed;
      await eventually(async () => !(await listeners()).includes(pid), 'the killed backend gone');
      await settle();
      expect(uncaught.map((e) => e.message)).toEqual([]);
      // Stopped means stopped: no connection of this relay listens any more.
      expect(await listeners()).toEqual([]);
      // The killed connection went back to no one: with the relay stopped, every connection the
      // pool holds is idle (none checked out and forgotten), answers, and is not the killed one.
      // (Counted against a count read while the relay ran, a poll's drain in flight at that
      // moment made this flaky.)
      expect(db.pool.idleCount).toBe(db.pool.totalCount);
      const clients = await Promise.all(
        Array.from({ length: db.pool.idleCount }, () => db.pool.connect()),
      );
      try {
        const pids = await Promise.all(
          clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid),
        );
        expect(pids).not.toContain(pid);
      } finally {
        for (const c of clients) c.release();
      }
    });
  });
});
