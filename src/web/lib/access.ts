/**
 * What a person chooses for one agent, as the Agents page and the consent page edit it, and the
 * plan that turns the choice into permission rows and key grants. Pure: no DOM, no SDK calls,
 * so unit tests reach it (tests/unit/web/access.test.ts).
 */
import { conditionsSchema } from '../../gateway/permissions.ts';
import type {
  AccessLevel,
  GrantScope,
  GrantView,
  PermissionConditions,
  PermissionView,
} from '../../gateway/types.ts';

/** The resources a person grants from the web app (`vdrive` and upstreams are SDK-only). */
export const KINDS = ['chat', 'files', 'memory', 'github'] as const;
export type Kind = (typeof KINDS)[number];

export const KIND_LABEL: Record<Kind, string> = {
  chat: 'Chats',
  files: 'Files',
  memory: 'Memory',
  github: 'GitHub',
};

export const LEVEL_LABEL: Record<AccessLevel, string> = {
  denied: 'No access',
  metadata: 'Names and dates only (metadata)',
  decrypt_ephemeral: 'Read content, decrypted per call (decrypt_ephemeral)',
};

/** What `allow_write` lets the agent do, per resource. */
export const WRITE_LABEL: Record<Kind, string> = {
  chat: 'May post messages to these chats',
  files: 'May change files',
  memory: 'May remember and forget (write its memory)',
  github: 'May trigger deploys and rollbacks',
};

/** Levels that make sense per resource: GitHub has no content to decrypt. */
export function levelsOf(kind: Kind): AccessLevel[] {
  return kind === 'github' ? ['denied', 'metadata'] : ['denied', 'metadata', 'decrypt_ephemeral'];
}

/** Whether a resource has items to pick (chats, files, repositories). */
export function hasItems(kind: Kind): boolean {
  return kind !== 'memory';
}

export interface ResourceDraft {
  level: AccessLevel;
  /** Every item of the kind, now and later (no `resource_ids`); never for decrypted chats/files. */
  allItems: boolean;
  /** Ticked items: the allow-list, and for decrypted chats and files the grants to make. */
  items: string[];
  /** Chats only: which epochs a new grant wraps. */
  scopes: Record<string, GrantScope>;
  /** `datetime-local` value in the person's time zone, or ''. */
  expires: string;
  /** '' or a whole number 1–1000. */
  maxItems: string;
  allowWrite: boolean;
  hoursOn: boolean;
  hoursStart: number;
  hoursEnd: number;
}

export type AccessDraft = Record<Kind, ResourceDraft>;

export function emptyResource(): ResourceDraft {
  return {
    level: 'denied',
    allItems: false,
    items: [],
    scopes: {},
    expires: '',
    maxItems: '',
    allowWrite: false,
    hoursOn: false,
    hoursStart: 8,
    hoursEnd: 18,
  };
}

/** Nothing granted: what the consent page starts from. */
export function emptyDraft(): AccessDraft {
  return {
    chat: emptyResource(),
    files: emptyResource(),
    memory: emptyResource(),
    github: emptyResource(),
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An ISO instant as a `datetime-local` value in this browser's time zone. */
export function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function grantKind(g: GrantView): Kind {
  return g.resourceType === 'chat' ? 'chat' : g.resourceType === 'files' ? 'files' : 'memory';
}

/** The editor's starting point for an agent: its rows and the grants already made. */
export function draftFrom(
  agentName: string,
  permissions: PermissionView[],
  grants: GrantView[],
): AccessDraft {
  const draft = emptyDraft();
  for (const kind of KINDS) {
    const row = permissions.find((p) => p.agentName === agentName && p.resourceType === kind);
    const d = draft[kind];
    const mine = grants.filter((g) => g.agentName === agentName && grantKind(g) === kind);
    if (row) {
      const c = row.conditions;
      d.level = row.accessLevel;
      d.allItems = hasItems(kind) && c.resource_ids === undefined;
      d.items = [...(c.resource_ids ?? [])];
      d.expires = c.expires_at ? toLocalInput(c.expires_at) : '';
      d.maxItems = c.max_items_per_call ? String(c.max_items_per_call) : '';
      d.allowWrite = c.allow_write === true;
      if (c.hours) {
        d.hoursOn = true;
        d.hoursStart = c.hours.start;
        d.hoursEnd = c.hours.end;
      }
    }
    if (kind === 'chat' || kind === 'files') {
      for (const g of mine) {
        if (!d.items.includes(g.resourceId)) d.items.push(g.resourceId);
        if (kind === 'chat') d.scopes[g.resourceId] = g.scope;
      }
      if (d.level === 'decrypt_ephemeral') d.allItems = false;
    }
  }
  return draft;
}

/** A clear message for a person, not a schema path. */
export class DraftError extends Error {
  override name = 'DraftError';
}

/** The row's conditions, checked with the server's own schema before anything is sent. */
export function conditionsOf(kind: Kind, d: ResourceDraft): PermissionConditions {
  const c: PermissionConditions = {};
  const label = KIND_LABEL[kind];
  if (hasItems(kind) && !(d.allItems && canAllItems(kind, d.level))) c.resource_ids = [...d.items];
  if (d.expires) {
    const at = new Date(d.expires);
    if (Number.isNaN(at.getTime())) throw new DraftError(`${label}: the expiry is not a date.`);
    if (at.getTime() <= Date.now()) throw new DraftError(`${label}: the expiry is in the past.`);
    c.expires_at = at.toISOString();
  }
  if (d.maxItems.trim()) {
    const n = Number(d.maxItems);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new DraftError(`${label}: "max items per call" is a whole number from 1 to 1000.`);
    c.max_items_per_call = n;
  }
  if (d.allowWrite) c.allow_write = true;
  if (d.hoursOn) {
    if (d.hoursStart === d.hoursEnd)
      throw new DraftError(`${label}: the hours window starts and ends at the same hour.`);
    c.hours = { start: d.hoursStart, end: d.hoursEnd };
  }
  const checked = conditionsSchema.safeParse(c);
  if (!checked.success) throw new DraftError(`${label}: ${checked.error.issues[0]?.message}`);
  return c;
}

/** Decrypted chats and files need a grant per item, so "all of them" is not offered there. */
export function canAllItems(kind: Kind, level: AccessLevel): boolean {
  return (
    hasItems(kind) && !((kind === 'chat' || kind === 'files') && level === 'decrypt_ephemeral')
  );
}

export interface Plan {
  permissions: { resourceType: Kind; accessLevel: AccessLevel; conditions: PermissionConditions }[];
  /** New chat grants (or replacements, when the scope widened to all history). */
  grantChats: { chatId: string; scope: GrantScope }[];
  grantFiles: string[];
  grantMemory: boolean;
  /** Grant ids to revoke (chat revocations rotate the chat's epoch). */
  revoke: string[];
  /** Expiry for new grants: the permission's, so a grant never outlives its row. */
  expiresAt: Record<Kind, Date | undefined>;
}

/**
 * What to change so the agent has exactly what the draft says. A kind left at "no access" that
 * has no row yet writes none (default deny); one that had a row is set to `denied`, and its
 * grants are revoked.
 */
export function planChanges(
  agentName: string,
  draft: AccessDraft,
  permissions: PermissionView[],
  grants: GrantView[],
): Plan {
  const plan: Plan = {
    permissions: [],
    grantChats: [],
    grantFiles: [],
    grantMemory: false,
    revoke: [],
    expiresAt: { chat: undefined, files: undefined, memory: undefined, github: undefined },
  };
  for (const kind of KINDS) {
    const d = draft[kind];
    const row = permissions.find((p) => p.agentName === agentName && p.resourceType === kind);
    const conditions = conditionsOf(kind, d);
    if (row || d.level !== 'denied')
      plan.permissions.push({ resourceType: kind, accessLevel: d.level, conditions });
    if (conditions.expires_at) plan.expiresAt[kind] = new Date(conditions.expires_at);
    const mine = grants.filter((g) => g.agentName === agentName && grantKind(g) === kind);
    const decrypt = d.level === 'decrypt_ephemeral';
    if (kind === 'memory') {
      if (decrypt && mine.length === 0) plan.grantMemory = true;
      if (!decrypt) plan.revoke.push(...mine.map((g) => g.grantId));
      continue;
    }
    if (kind === 'github') continue;
    const wanted = new Set(decrypt ? d.items : []);
    for (const g of mine) if (!wanted.has(g.resourceId)) plan.revoke.push(g.grantId);
    for (const id of wanted) {
      const had = mine.find((g) => g.resourceId === id);
      if (kind === 'files') {
        if (!had) plan.grantFiles.push(id);
        continue;
      }
      const scope = d.scopes[id] ?? 'from_now_on';
      // Widening to all history needs a new grant; narrowing keeps the epochs already granted.
      if (!had || (scope === 'all_history' && had.scope !== 'all_history'))
        plan.grantChats.push({ chatId: id, scope });
    }
  }
  return plan;
}

/** True when the plan changes nothing. */
export function isEmptyPlan(p: Plan, permissions: PermissionView[], agentName: string): boolean {
  const same = p.permissions.every((w) => {
    const row = permissions.find(
      (r) => r.agentName === agentName && r.resourceType === w.resourceType,
    );
    return (
      row !== undefined &&
      row.accessLevel === w.accessLevel &&
      JSON.stringify(sortKeys(row.conditions)) === JSON.stringify(sortKeys(w.conditions))
    );
  });
  return (
    same &&
    p.grantChats.length === 0 &&
    p.grantFiles.length === 0 &&
    !p.grantMemory &&
    p.revoke.length === 0
  );
}

function sortKeys(c: PermissionConditions): unknown {
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => a.localeCompare(b)));
}

/** One line per resource, for the consent summary and the agent list. */
export function summarize(draft: AccessDraft): string[] {
  const out: string[] = [];
  for (const kind of KINDS) {
    const d = draft[kind];
    if (d.level === 'denied') continue;
    const what = d.level === 'metadata' ? 'names and dates' : 'content';
    const items = !hasItems(kind)
      ? ''
      : d.allItems && canAllItems(kind, d.level)
        ? ' (all)'
        : ` (${d.items.length} chosen)`;
    out.push(`${KIND_LABEL[kind]}: ${what}${items}${d.allowWrite ? ', may write' : ''}`);
  }
  return out;
}
