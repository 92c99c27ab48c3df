import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import type { AuditEntryView } from '../gateway/types.ts';
import { metrics } from '../metrics.ts';
import type { AuditInsert, AuditRepository } from './audit.repository.ts';

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

/**
 * Writes `decryption_audit_log` synchronously: the gateway awaits `record` before any plaintext
 * leaves, and an error here becomes `AuditUnavailableError` so the caller returns nothing.
 */
export class AuditService {
  constructor(
    private readonly repo: AuditRepository,
    private readonly logger: Logger,
  ) {}

  async record(rows: AuditInsert[]): Promise<void> {
    try {
      await this.repo.insert(rows);
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

  async page(
    userId: string,
    f: {
      agentName?: string;
      resourceId?: string;
      outcome?: string;
      from?: Date;
      to?: Date;
      /** The `nextCursor` of the previous page. */
      cursor?: string;
      limit: number;
    },
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
