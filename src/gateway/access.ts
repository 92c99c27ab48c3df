import type { ChatMembership, MemberChatRow } from './chats.repository.ts';
import type { PermissionRow } from './permissions.repository.ts';
import type { PermissionsService } from './permissions.service.ts';
import { levelAtLeast, withinHours } from './permissions.ts';
import type { AccessLevel, PermissionResourceType, PermissionView } from './types.ts';

/** Who is calling: an agent name speaking for one owner, through one token. */
export interface AgentCaller {
  tokenId: string;
  userId: string;
  agentName: string;
}

/** Why a call or a resource was refused: audit `reason` values. */
export type DenyReason =
  | 'no-permission'
  | 'expired'
  | 'outside-hours'
  | 'insufficient-level'
  | 'write-not-allowed'
  | 'over-max-items'
  | 'not-found';

export interface Need {
  resourceType: PermissionResourceType;
  level: Exclude<AccessLevel, 'denied'>;
  write?: boolean;
  /** Items the call asks for (e.g. `limit`), checked against `max_items_per_call`. */
  items?: number;
}

export interface AccessDecision {
  permission: PermissionView | undefined;
  /** The permission row refuses the whole call: same for every resource, so it reveals nothing. */
  refused?: { reason: DenyReason; hint: string };
  /** The requested resources the call may touch. */
  allowed: MemberChatRow[];
  /** Requested ids refused one by one: always `not-found`, whatever the cause. */
  denied: string[];
}

const HINTS: Record<Exclude<DenyReason, 'not-found'>, string> = {
  'no-permission': 'The owner has not given this agent access to this kind of resource.',
  expired: 'The owner’s permission for this agent has expired; ask them to renew it.',
  'outside-hours': 'The owner allows this agent only during certain UTC hours; try again then.',
  'insufficient-level': 'The owner’s permission does not allow this operation.',
  'write-not-allowed': 'The owner has not allowed this agent to write.',
  'over-max-items': 'Ask for fewer items in one call.',
};

/** The one answer for a resource that does not exist, is not the owner's, or is not allowed. */
export const NO_ACCESS = 'Not found, or no access.';

/** The permission row of `type` in `rows` as it applies at `now` (missing or expired: denied). */
export function refusalOf(
  permission: PermissionView | undefined,
  need: Need,
  now: Date,
): AccessDecision['refused'] {
  const refuse = (reason: Exclude<DenyReason, 'not-found'>) => ({ reason, hint: HINTS[reason] });
  if (!permission || permission.accessLevel === 'denied') return refuse('no-permission');
  const c = permission.conditions;
  if (c.expires_at && new Date(c.expires_at).getTime() <= now.getTime()) return refuse('expired');
  if (!withinHours(c.hours, now)) return refuse('outside-hours');
  if (!levelAtLeast(permission.accessLevel, need.level)) return refuse('insufficient-level');
  if (need.write && c.allow_write !== true) return refuse('write-not-allowed');
  if (
    need.items !== undefined &&
    c.max_items_per_call !== undefined &&
    need.items > c.max_items_per_call
  )
    return refuse('over-max-items');
  return undefined;
}

/**
 * The one permission check (CONVENTIONS §2): batched, default deny, returns the allowed subset.
 * A resource the owner cannot see and one that does not exist get the same answer.
 */
export class GatewayAccess {
  constructor(
    private readonly permissions: PermissionsService,
    private readonly membership: ChatMembership,
  ) {}

  /** Every permission row of the caller: one query, also used to build `tools/list`. */
  permissionsOf(caller: AgentCaller): Promise<PermissionView[]> {
    return this.permissions.forAgent(caller.userId, caller.agentName);
  }

  /** Permission rows read by another statement, as `permissionsOf` would give them. */
  views(rows: PermissionRow[]): PermissionView[] {
    return this.permissions.views(rows);
  }

  /**
   * `resourceIds`: the chats the call names, or `'all'` for a listing (the allow-list of
   * `resource_ids` then filters it). `members`: the owner's active chats among `resourceIds`
   * when the caller already read them (with `rows`, in the same statement); the decision is the
   * same either way.
   */
  async check(
    caller: AgentCaller,
    need: Need,
    resourceIds: string[] | 'all',
    now = new Date(),
    rows?: PermissionView[],
    members?: MemberChatRow[],
  ): Promise<AccessDecision> {
    const all = rows ?? (await this.permissionsOf(caller));
    const permission = all.find((p) => p.resourceType === need.resourceType);
    const requested =
      resourceIds === 'all' ? [] : [...new Set(resourceIds.map((id) => id.toLowerCase()))];
    const refused = refusalOf(permission, need, now);
    if (refused) return { permission, refused, allowed: [], denied: requested };
    const allowList = permission?.conditions.resource_ids?.map((id) => id.toLowerCase());
    const candidates =
      resourceIds === 'all'
        ? allowList
        : requested.filter((id) => !allowList || allowList.includes(id));
    const member =
      candidates && candidates.length === 0
        ? []
        : members && candidates
          ? members.filter((c) => candidates.includes(c.id))
          : await this.membership.activeChats(caller.userId, candidates);
    const allowedIds = new Set(member.map((c) => c.id));
    return {
      permission,
      allowed: member,
      denied: requested.filter((id) => !allowedIds.has(id)),
    };
  }
}
