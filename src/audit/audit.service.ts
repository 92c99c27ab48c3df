import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import type { AuditEntryView } from '../gateway/types.ts';
import { metrics } from '../metrics.ts';
import type { AuditInsert, AuditPageQuery, AuditRepository } from './audit.repository.ts';

/** The audit row could not be written, so the call returns nothing (fail closed). */
export class AuditUnavailableError extends AppError {
  constructor(cause: unknown) {
    super(
      503,
      'audit-unavailable',
      'Audit unavailable',
      'The access could not be audited; nothing was returned.',
      {
        cause,
      },
    );
  }
}

/** Rows of one `record` call, waiting for the statement that commits them. */
interface Pending {
  rows: AuditInsert[];
  done: () => void;
  failed: (err: unknown) => void;
}

/** At most this many rows in one INSERT; a call's rows are never split across two. */
const MAX_BATCH_ROWS = 500;

/**
 * PostgreSQL refused the statement for what is in it (a data exception, class 22, or an
 * integrity violation, class 23): nothing was committed, and another batch without the offending
 * call's rows may pass. Any other failure (the connection lost, the server shutting down) may
 * have come after the commit, or would sink every call alike: not retried, so no row is written
 * twice.
 */
function refusedForItsRows(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

/**
 * Writes `decryption_audit_log` synchronously: the gateway awaits `record` before any plaintext
 * leaves, and an error here becomes `AuditUnavailableError` so the caller returns nothing.
 *
 * Group commit: one INSERT is in flight at a time; the calls that arrive meanwhile are written
 * together by the next one (one statement, one commit, instead of one each — the commit is most
 * of an audit row's PostgreSQL cost). A call is answered only once the statement holding its rows
 * has committed, so "audited before output" holds per call exactly as before. A batch PostgreSQL
 * refused for its contents is retried one call at a time, so one call's rows cannot make another
 * call fail; any other failure fails every call of the batch (as each would have failed alone).
 */
export class AuditService {
  private readonly queue: Pending[] = [];
  private writing = false;

  constructor(
    private readonly repo: AuditRepository,
    private readonly logger: Logger,
  ) {}

  /** Resolves once `rows` are committed; rejects if they are not (then none of them is). */
  private write(rows: AuditInsert[]): Promise<void> {
    return new Promise<void>((done, failed) => {
      this.queue.push({ rows, done, failed });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        let n = 0;
        let rows = 0;
        while (
          n < this.queue.length &&
          (n === 0 || rows + this.queue[n]!.rows.length <= MAX_BATCH_ROWS)
        )
          rows += this.queue[n++]!.rows.length;
        await this.flush(this.queue.splice(0, n));
      }
    } finally {
      this.writing = false;
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    try {
      await this.repo.insert(batch.flatMap((p) => p.rows));
    } catch (err) {
      if (batch.length === 1 || !refusedForItsRows(err)) {
        for (const p of batch) p.failed(err);
        return;
      }
      // Nothing of the batch was committed: each call's rows again, on their own.
      await Promise.all(batch.map((p) => this.repo.insert(p.rows).then(p.done, p.failed)));
      return;
    }
    for (const p of batch) p.done();
  }

  async record(rows: AuditInsert[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.write(rows);
    } catch (err) {
      metrics.auditFailures.inc();
      this.logger.error(
        {
          err: { message: (err as Error).message, code: (err as { code?: string }).code },
          rows: rows.length,
        },
        'audit insert failed; call refused',
      );
      throw new AuditUnavailableError(err);
    }
    for (const r of rows) {
      metrics.auditRows.inc({ outcome: r.outcome });
      // Names only (never resource ids): the type of what was decrypted, for the decryption rate.
      if (r.decryptionSuccess) metrics.decryptions.inc({ kind: r.resourceType }, r.itemCount || 1);
    }
  }

  /** `f.cursor`: the `nextCursor` of the previous page. */
  async page(
    userId: string,
    f: AuditPageQuery,
  ): Promise<{ entries: AuditEntryView[]; nextCursor: string | null }> {
    const rows = await this.repo.page(userId, { ...f, limit: f.limit + 1 });
    const more = rows.length > f.limit;
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return {
      entries: page.map((r) => ({
        id: r.id,
        agentName: r.agent_name,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        toolName: r.tool_name,
        requestId: r.request_id,
        outcome: r.outcome,
        reason: r.reason,
        decryptionSuccess: r.decryption_success,
        itemCount: r.item_count,
        at: r.decrypted_at.toISOString(),
      })),
      nextCursor: more && last ? last.id : null,
    };
  }
}
