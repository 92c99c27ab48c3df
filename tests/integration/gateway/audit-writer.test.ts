import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditInsert, AuditRepository } from '../../../src/audit/audit.repository.ts';
import { AuditService, AuditUnavailableError } from '../../../src/audit/audit.service.ts';
import type { Queryable } from '../../../src/db/pool.ts';
import { silentLogger } from '../../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';

/**
 * The audit writer commits the rows of calls that arrive together in one INSERT (group commit).
 * What must not change: a call is answered only once its own rows are committed, and a call whose
 * rows cannot be written fails without taking any other call down with it.
 */
describe('audit writer: group commit, per call', () => {
  let db: TestDatabase;
  let userId: string;
  let inserts: number;
  let audit: AuditService;

  beforeAll(async () => {
    db = await createTestDatabase();
    userId = (
      await db.pool.query<{ id: string }>(
        "INSERT INTO users (email) VALUES ('audit-writer@example.com') RETURNING id",
      )
    ).rows[0]!.id;
    // The real pool, counted: every statement still goes to PostgreSQL.
    const counted: Queryable = {
      query: ((...a: Parameters<Queryable['query']>) => {
        inserts++;
        return db.pool.query(...a);
      }) as Queryable['query'],
    };
    audit = new AuditService(new AuditRepository(counted), silentLogger);
  });
  afterAll(async () => db?.drop());

  const row = (requestId: string): AuditInsert => ({
    userId,
    agentName: 'claude',
    resourceId: randomUUID(),
    resourceType: 'chat',
    decryptionSuccess: true,
    ipAddress: '127.0.0.1',
    userAgent: 'test',
    toolName: 'read_messages',
    requestId,
    outcome: 'allowed',
    reason: null,
    itemCount: 3,
  });
  const committed = async (requestId: string) =>
    (
      await db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM decryption_audit_log WHERE request_id = $1',
        [requestId],
      )
    ).rows[0]!.n;

  it('answers each call once its rows are committed, writing calls that wait together', async () => {
    inserts = 0;
    const ids = Array.from({ length: 12 }, () => randomUUID());
    const seenAtAnswer = await Promise.all(
      ids.map(async (id, i) => {
        await audit.record(i % 3 === 0 ? [row(id), row(id)] : [row(id)]);
        // Read on another connection the moment the call is answered.
        return committed(id);
      }),
    );
    expect(seenAtAnswer).toEqual(ids.map((_, i) => (i % 3 === 0 ? 2 : 1)));
    // The first call went alone; the eleven that arrived while it was in flight, together.
    expect(inserts).toBe(2);
  });

  it('fails only the call whose rows cannot be written, and commits the others', async () => {
    inserts = 0;
    const ids = Array.from({ length: 4 }, () => randomUUID());
    // request_id is VARCHAR(128): this call's row fails the statement it is in.
    const bad = `x${'y'.repeat(200)}`;
    const results = await Promise.allSettled([
      audit.record([row(ids[0]!)]),
      audit.record([row(ids[1]!)]),
      audit.record([row(ids[2]!), { ...row(ids[2]!), requestId: bad }]),
      audit.record([row(ids[3]!)]),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(AuditUnavailableError);
    expect(await Promise.all(ids.map(committed))).toEqual([1, 1, 0, 1]);
    // Alone, then the batch of three (refused whole), then each of the three on its own.
    expect(inserts).toBe(5);
  });

  it('does not retry a batch whose statement may have committed (no row written twice)', async () => {
    // Inserts wait on a lock held here; cancelling one is a failure that says nothing about the
    // rows (like a connection lost mid-commit): its calls fail, and nothing is sent again.
    const holder = await db.pool.connect();
    const cancelled = new Set<string>();
    const cancelWaiting = async () => {
      for (;;) {
        const { rows } = await db.pool.query<{ pid: number; at: string }>(
          `SELECT pid, query_start::text AS at FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query LIKE 'INSERT INTO decryption_audit_log%'`,
        );
        const next = rows.find((r) => !cancelled.has(`${r.pid} ${r.at}`));
        if (next) {
          cancelled.add(`${next.pid} ${next.at}`);
          await db.pool.query('SELECT pg_cancel_backend($1)', [next.pid]);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const ids = Array.from({ length: 4 }, () => randomUUID());
    let results: PromiseSettledResult<void>[];
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE decryption_audit_log IN EXCLUSIVE MODE');
      inserts = 0;
      const calls = Promise.allSettled(ids.map((id) => audit.record([row(id)])));
      await cancelWaiting(); // the first call, alone
      await cancelWaiting(); // the three that waited behind it, together
      await holder.query('COMMIT');
      results = await calls;
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
    }
    expect(results.map((r) => r.status)).toEqual(Array(4).fill('rejected'));
    expect(inserts).toBe(2);
    expect(await Promise.all(ids.map(committed))).toEqual([0, 0, 0, 0]);
  });

  it('fails every call when nothing can be written (fail closed)', async () => {
    await db.pool.query(
      'ALTER TABLE decryption_audit_log ADD CONSTRAINT test_writer_down CHECK (tool_name IS NULL) NOT VALID',
    );
    try {
      const ids = Array.from({ length: 5 }, () => randomUUID());
      const results = await Promise.allSettled(ids.map((id) => audit.record([row(id)])));
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(await Promise.all(ids.map(committed))).toEqual([0, 0, 0, 0, 0]);
    } finally {
      await db.pool.query('ALTER TABLE decryption_audit_log DROP CONSTRAINT test_writer_down');
    }
    // And it writes again afterwards.
    const id = randomUUID();
    await audit.record([row(id)]);
    expect(await committed(id)).toBe(1);
  });
});
