import { z } from 'zod';
import type { AccessLevel, PermissionConditions } from './types.ts';

export const ACCESS_LEVELS = ['denied', 'metadata', 'decrypt_ephemeral'] as const;
export const PERMISSION_RESOURCE_TYPES = ['chat', 'files', 'vdrive', 'memory', 'github'] as const;

/** A built-in resource type, or `upstream:<name>` for a federated MCP server. */
export const permissionResourceType = z.union([
  z.enum(PERMISSION_RESOURCE_TYPES),
  z.templateLiteral(['upstream:', z.string().regex(/^[a-z][a-z0-9-]{0,30}$/)]),
]);

const RANK: Record<AccessLevel, number> = { denied: 0, metadata: 1, decrypt_ephemeral: 2 };

export function levelAtLeast(have: AccessLevel, need: AccessLevel): boolean {
  return RANK[have] >= RANK[need];
}

/** `agent_permissions.conditions`, validated on the way in and again on the way out of the database. */
export const conditionsSchema = z
  .object({
    resource_ids: z.array(z.uuid()).max(1000).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    max_items_per_call: z.number().int().min(1).max(1000).optional(),
    allow_write: z.boolean().optional(),
    hours: z
      .object({
        start: z.number().int().min(0).max(23),
        end: z.number().int().min(0).max(24),
      })
      .strict()
      .refine((h) => h.start !== h.end, 'hours.start and hours.end must differ')
      .optional(),
  })
  .strict();

export function withinHours(hours: PermissionConditions['hours'], now: Date): boolean {
  if (!hours) return true;
  const h = now.getUTCHours();
  return hours.start < hours.end
    ? h >= hours.start && h < hours.end
    : h >= hours.start || h < hours.end;
}
