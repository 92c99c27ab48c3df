import type { Logger } from 'pino';
import type { PermissionRow, PermissionsRepository } from './permissions.repository.ts';
import { ACCESS_LEVELS, conditionsSchema } from './permissions.ts';
import type {
  AccessLevel,
  PermissionConditions,
  PermissionResourceType,
  PermissionView,
} from './types.ts';

/**
 * A stored row read back as a view. A row that no longer parses (edited by hand, or by an older
 * version) reads as `denied` with no conditions: default deny, never "anything goes".
 */
export function permissionView(r: PermissionRow, logger?: Logger): PermissionView {
  const level = (ACCESS_LEVELS as readonly string[]).includes(r.access_level)
    ? (r.access_level as AccessLevel)
    : 'denied';
  const parsed = conditionsSchema.safeParse(r.conditions ?? {});
  if (!parsed.success)
    logger?.warn({ permissionId: r.id }, 'unreadable permission conditions: denied');
  return {
    id: r.id,
    agentName: r.agent_name,
    resourceType: r.resource_type as PermissionResourceType,
    accessLevel: parsed.success ? level : 'denied',
    conditions: parsed.success ? (parsed.data as PermissionConditions) : {},
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** People manage what each of their agents may do: one row per (agent, resource type). */
export class PermissionsService {
  constructor(
    private readonly repo: PermissionsRepository,
    private readonly logger?: Logger,
  ) {}

  async list(userId: string, agentName?: string): Promise<PermissionView[]> {
    return (await this.repo.list(userId, agentName ?? null)).map((r) =>
      permissionView(r, this.logger),
    );
  }

  async forAgent(userId: string, agentName: string): Promise<PermissionView[]> {
    return this.views(await this.repo.forAgent(userId, agentName));
  }

  /** Rows read by another statement (one that read a whole call at once), as views. */
  views(rows: PermissionRow[]): PermissionView[] {
    return rows.map((r) => permissionView(r, this.logger));
  }

  async set(
    userId: string,
    input: {
      agentName: string;
      resourceType: PermissionResourceType;
      accessLevel: AccessLevel;
      conditions: PermissionConditions;
    },
  ): Promise<PermissionView> {
    const conditions = conditionsSchema.parse(input.conditions);
    return permissionView(await this.repo.upsert({ userId, ...input, conditions }), this.logger);
  }

  remove(userId: string, id: string): Promise<boolean> {
    return this.repo.remove(id, userId);
  }
}
