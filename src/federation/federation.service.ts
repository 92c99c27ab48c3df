import { createHash } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { AuditInsert } from '../audit/audit.repository.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { AgentCaller } from '../gateway/access.ts';
import { refusalOf } from '../gateway/access.ts';
import type { CallMeta } from '../gateway/chat-tools.service.ts';
import { ToolRefusal } from '../gateway/refusal.ts';
import type { PermissionResourceType, PermissionView } from '../gateway/types.ts';
import type { ToolDef } from '../tools/tool.ts';
import type { UpstreamHub, UpstreamTool } from './upstreams.ts';

export function upstreamResourceType(upstream: string): PermissionResourceType {
  return `upstream:${upstream}`;
}

/**
 * `decryption_audit_log.resource_id` is a UUID: an upstream is named by a fixed UUID derived
 * from its name (SHA-256, RFC 9562 version 8 layout), the same on every node and restart.
 */
export function upstreamResourceId(upstream: string): string {
  const h = createHash('sha256').update(`vutler/v1/upstream\0${upstream}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** A federated tool writes unless the upstream says it only reads. */
function writes(t: UpstreamTool): boolean {
  return t.listing.annotations?.readOnlyHint !== true;
}

/**
 * Upstream MCP tools behind the gateway's own rules: the caller needs a permission row of type
 * `upstream:<name>` (level `metadata` or above; `allow_write` unless the tool is read-only), the
 * call is rate-limited like any tool, and the audit row is committed before the upstream is
 * called (fail closed: no audit, no call). Upstream results pass through unchanged.
 */
export class FederationService {
  private readonly defs = new Map<string, ToolDef>();

  constructor(
    private readonly hub: UpstreamHub,
    private readonly audit: AuditService,
  ) {}

  private row(
    caller: AgentCaller,
    meta: CallMeta,
    upstream: string,
    r: { outcome: AuditInsert['outcome']; reason?: string },
  ): AuditInsert {
    return {
      userId: caller.userId,
      agentName: caller.agentName,
      resourceId: upstreamResourceId(upstream),
      resourceType: upstreamResourceType(upstream),
      decryptionSuccess: false,
      ipAddress: meta.ip,
      userAgent: meta.userAgent,
      toolName: meta.toolName,
      requestId: meta.requestId,
      outcome: r.outcome,
      reason: r.reason ?? null,
      itemCount: 0,
    };
  }

  async call(
    t: UpstreamTool,
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    args: Record<string, unknown>,
  ): Promise<CallToolResult> {
    const type = upstreamResourceType(t.upstream);
    const refused = refusalOf(
      permissions.find((p) => p.resourceType === type),
      { resourceType: type, level: 'metadata', write: writes(t) },
      new Date(),
    );
    if (refused) {
      await this.audit.record([
        this.row(caller, meta, t.upstream, { outcome: 'denied', reason: refused.reason }),
      ]);
      throw new ToolRefusal('Access refused.', refused.hint, refused.reason);
    }
    await this.audit.record([this.row(caller, meta, t.upstream, { outcome: 'allowed' })]);
    try {
      return await this.hub.call(t.upstream, t.name, args);
    } catch {
      await this.audit.record([
        this.row(caller, meta, t.upstream, { outcome: 'error', reason: 'upstream-unavailable' }),
      ]);
      throw new ToolRefusal(
        `The upstream server ${t.upstream} did not answer.`,
        'Retry later.',
        'upstream-unavailable',
        5,
      );
    }
  }

  /** The federated tools as gateway tools (rebuilt only when an upstream's listing changes). */
  tools(): ToolDef[] {
    return this.hub.tools().map((t) => {
      const cached = this.defs.get(t.fullName);
      if (cached?.listing === t.listing) return cached;
      const def: ToolDef = {
        name: t.fullName,
        title: t.listing.title ?? t.fullName,
        description: t.listing.description ?? '',
        // The upstream validates its own input; its JSON Schema is what tools/list shows.
        inputSchema: z.looseObject({}),
        outputSchema: z.looseObject({}),
        annotations: t.listing.annotations ?? {},
        listing: t.listing,
        visible: (permissions, now) => {
          const type = upstreamResourceType(t.upstream);
          const refused = refusalOf(
            permissions.find((p) => p.resourceType === type),
            { resourceType: type, level: 'metadata', write: writes(t) },
            now,
          );
          return !refused || refused.reason === 'outside-hours';
        },
        run: async (input, ctx) => {
          const raw = await this.call(t, ctx.caller, ctx.meta, await ctx.permissions(), input);
          return { structured: {}, text: '', raw };
        },
      };
      this.defs.set(t.fullName, def);
      return def;
    });
  }
}
