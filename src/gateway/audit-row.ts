import type { AuditInsert } from '../audit/audit.repository.ts';
import type { AgentCaller } from './access.ts';

/** What the transport knows about the call, for the audit row. */
export interface CallMeta {
  toolName: string;
  requestId: string;
  ip: string | null;
  userAgent: string | null;
}

export interface AuditOutcome {
  outcome: AuditInsert['outcome'];
  reason?: string | null;
  decrypted?: boolean;
  items?: number;
}

/** The one shape of a tool call's `decryption_audit_log` row, whatever resource it touched. */
export function auditRow(
  resourceType: string,
  caller: AgentCaller,
  meta: CallMeta,
  resourceId: string,
  r: AuditOutcome,
): AuditInsert {
  return {
    userId: caller.userId,
    agentName: caller.agentName,
    resourceId,
    resourceType,
    decryptionSuccess: r.decrypted ?? false,
    ipAddress: meta.ip,
    userAgent: meta.userAgent,
    toolName: meta.toolName,
    requestId: meta.requestId,
    outcome: r.outcome,
    reason: r.reason ?? null,
    itemCount: r.items ?? 0,
  };
}
