/**
 * The Audit page's data: the person's own decryption log (server-side filters), the resources'
 * names decrypted here (chat titles from the verified members, file names from their encrypted
 * metadata, repository names), and the hash chain verified on this device with the pinned
 * gateway key — never a key the server sends along with the export.
 */
import type { AuditEntryView, ExportVerdict } from '../../client/index.ts';
import { chatState, chatTitle } from './chats.ts';
import { toCsv } from './pure.ts';
import { client } from './session.ts';

export interface AuditFilters {
  agentName?: string;
  resourceId?: string;
  outcome?: 'allowed' | 'denied' | 'error';
  /** ISO instants. */
  from?: string;
  to?: string;
}

export interface ResourceName {
  id: string;
  type: string;
  name: string;
}

/** Everything this page can name, keyed by resource id. */
export async function resourceNames(): Promise<Map<string, ResourceName>> {
  const out = new Map<string, ResourceName>();
  const s = chatState.get();
  for (const e of Object.values(s.chats))
    out.set(e.chat.id, { id: e.chat.id, type: 'chat', name: `Chat: ${chatTitle(e.chat, s)}` });
  const [files, repos] = await Promise.all([
    client.drive
      .list({ limit: 200 })
      .then((r) => r.files)
      .catch(() => []),
    client.github.repos().catch(() => []),
  ]);
  for (const f of files) out.set(f.id, { id: f.id, type: 'files', name: `File: ${f.meta.name}` });
  for (const r of repos)
    out.set(r.id, { id: r.id, type: 'github', name: `Repository: ${r.fullName}` });
  return out;
}

export function nameOf(e: AuditEntryView, names: Map<string, ResourceName>): string {
  const known = names.get(e.resourceId);
  if (known) return known.name;
  switch (e.resourceType) {
    case 'chat':
      return 'A chat you are no longer in';
    case 'files':
    case 'vdrive':
      return 'A file no longer in your drive';
    case 'memory':
      return `Memory of @${e.agentName}`;
    case 'github':
      return 'A disconnected repository';
    default:
      return e.resourceType;
  }
}

export async function auditPage(filters: AuditFilters, cursor?: string) {
  return client.agents.audit({ ...filters, cursor, limit: 50 });
}

export interface ChainCheck {
  verdict: ExportVerdict;
  /** The export as downloaded, offered as is: anyone can verify it again offline. */
  raw: string;
  checkedAt: string;
}

export async function checkChain(): Promise<ChainCheck> {
  const raw = await client.audit.export();
  const verdict = await client.audit.verify(raw);
  return { verdict, raw, checkedAt: new Date().toISOString() };
}

export function auditCsv(
  entries: AuditEntryView[],
  names: Map<string, ResourceName>,
  chain: ExportVerdict | undefined,
): string {
  return toCsv(
    [
      'time',
      'agent',
      'tool',
      'resource type',
      'resource',
      'resource id',
      'outcome',
      'reason',
      'decrypted',
      'items',
      'chain',
      'request id',
    ],
    entries.map((e) => [
      e.at,
      e.agentName,
      e.toolName,
      e.resourceType,
      nameOf(e, names),
      e.resourceId,
      e.outcome,
      e.reason,
      e.decryptionSuccess,
      e.itemCount,
      chain?.states.get(e.id) ?? e.chain ?? '',
      e.requestId,
    ]),
  );
}
