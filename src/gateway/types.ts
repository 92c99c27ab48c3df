/** Gateway wire types shared by the server and the browser-safe SDK (types only). */

export type AccessLevel = 'denied' | 'metadata' | 'decrypt_ephemeral';
export type PermissionResourceType =
  | 'chat'
  | 'files'
  | 'vdrive'
  | 'memory'
  | 'github'
  /** A federated upstream MCP server (docs/MCP.md). */
  | `upstream:${string}`;

export interface PermissionConditions {
  /** Allow-list of resource ids; absent means every resource of the type. */
  resource_ids?: string[];
  /** ISO 8601; after it the row counts as `denied`. */
  expires_at?: string;
  /** Largest number of items (messages, files) one call may return. */
  max_items_per_call?: number;
  /** Post messages / write memory / trigger deploys. */
  allow_write?: boolean;
  /** UTC hours [start, end); start > end wraps past midnight. */
  hours?: { start: number; end: number };
}

export interface PermissionView {
  id: string;
  agentName: string;
  resourceType: PermissionResourceType;
  accessLevel: AccessLevel;
  conditions: PermissionConditions;
  createdAt: string;
  updatedAt: string;
}

export type GrantScope = 'from_now_on' | 'all_history';

/** What a grant wraps: a chat's epoch keys, or one file's FK (epoch 0). */
export type GrantResourceType = 'chat' | 'files';

export interface GrantView {
  grantId: string;
  agentName: string;
  /** `memory` grants are made through `/api/memory/grants` (resource id = memory key id). */
  resourceType: 'chat' | 'files' | 'memory';
  resourceId: string;
  scope: GrantScope;
  accessLevel: 'decrypt_ephemeral';
  expiresAt: string | null;
  epochs: number[];
  createdAt: string;
}

export type AuditOutcome = 'allowed' | 'denied' | 'error';

export interface AuditEntryView {
  id: string;
  agentName: string;
  resourceType: string;
  resourceId: string;
  toolName: string | null;
  requestId: string | null;
  outcome: AuditOutcome | null;
  reason: string | null;
  decryptionSuccess: boolean;
  itemCount: number;
  at: string;
  /** Audit hash chain: sealed (signed checkpoint covers it), pending (not yet), broken. */
  chain?: 'sealed' | 'pending' | 'broken';
}
