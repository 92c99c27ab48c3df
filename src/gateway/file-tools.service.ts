import type { AuditInsert } from '../audit/audit.repository.ts';
import type { AuditService } from '../audit/audit.service.ts';
import { base64Decode, base64Encode, wipe } from '../crypto/bytes.ts';
import { type FileKey, type FileMeta, openFileMeta } from '../crypto/files.ts';
import { createFileDecryptStream } from '../crypto/filestream.ts';
import type { GatewayKeys } from '../crypto/grants.ts';
import { NotFoundError } from '../errors.ts';
import type { FileRow } from '../vdrive/vdrive.repository.ts';
import { type AgentCaller, type DenyReason, type Need, NO_ACCESS, refusalOf } from './access.ts';
import { type AuditOutcome, auditRow, type CallMeta } from './audit-row.ts';
import { type KeyringFailure, openGrantRow } from './ephemeral.ts';
import type { GrantsRepository } from './grants.repository.ts';
import type { IdentityPins } from './pins.ts';
import { ToolRefusal } from './refusal.ts';
import type { PermissionView } from './types.ts';

/** What the file tools need of VDrive (VdriveService implements it). */
export interface GatewayFileStore {
  /** The owner's complete file; `NotFoundError` for a missing, foreign or unfinished one. */
  ownReadyFile(userId: string, fileId: string): Promise<FileRow>;
  openContent(f: FileRow): { stream: ReadableStream<Uint8Array>; size: number };
}

export interface FileSummary {
  id: string;
  name: string;
  type: string;
  size: number;
  createdAt: string;
  modifiedAt: string | null;
}

export type FileContent =
  | { kind: 'text'; text: string }
  | { kind: 'blob'; base64: string; mimeType: string };

const KEY_FAILURE_HINT: Record<KeyringFailure, string> = {
  'no-grant': 'The owner has not granted this agent this file; ask them to grant it.',
  'bad-grant':
    'The stored grant does not verify against the owner’s pinned identity key; ask the owner to grant again.',
  'grant-expired': 'The owner’s grant has expired; ask them to renew it.',
};

const TEXT_TYPES =
  /^(text\/|application\/(json|xml|javascript|yaml|x-yaml|toml|csv|sql)\b)|\+(json|xml)$/;

function noAccess(): ToolRefusal {
  return new ToolRefusal(NO_ACCESS, 'Check the file id with list_files.', 'not-found');
}

function summary(id: string, f: FileRow, meta: FileMeta): FileSummary {
  return {
    id,
    name: meta.name,
    type: meta.type,
    size: meta.size,
    createdAt: (meta.createdAt ? new Date(meta.createdAt) : f.created_at).toISOString(),
    modifiedAt: meta.modifiedAt ? new Date(meta.modifiedAt).toISOString() : null,
  };
}

/** Text when the type says so or the bytes are clean UTF-8 without NULs; else a blob. */
function asContent(bytes: Uint8Array, type: string): FileContent {
  if (TEXT_TYPES.test(type) || !bytes.includes(0)) {
    try {
      return { kind: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
    } catch {
      // Not UTF-8 after all: fall through to base64.
    }
  }
  return {
    kind: 'blob',
    base64: base64Encode(bytes),
    mimeType: type || 'application/octet-stream',
  };
}

/**
 * The file tools' rules, per call and in this order: the `files` permission row, the owner-signed
 * grant (verified against the pinned owner key, FK unwrapped non-extractable), decryption in
 * process, the audit row, then the result. Keys and plaintext live in this call only.
 *
 * A grant always wraps the whole FK; the `metadata` level is enforced here, by refusing content,
 * so one grant serves both levels and raising or lowering the level needs no new wrap.
 */
export class FileToolsService {
  constructor(
    private readonly permissions: (caller: AgentCaller) => Promise<PermissionView[]>,
    private readonly files: GatewayFileStore,
    private readonly grants: GrantsRepository,
    private readonly pins: IdentityPins,
    private readonly audit: AuditService,
    private readonly gateway: GatewayKeys,
    private readonly maxReadBytes: number,
  ) {}

  private row(caller: AgentCaller, meta: CallMeta, resourceId: string, r: AuditOutcome) {
    return auditRow('files', caller, meta, resourceId, r);
  }

  private async deny(
    caller: AgentCaller,
    meta: CallMeta,
    ids: string[],
    reason: DenyReason | KeyringFailure | 'too-large',
    refusal: ToolRefusal,
  ): Promise<never> {
    await this.audit.record(
      ids.map((id) => this.row(caller, meta, id, { outcome: 'denied', reason })),
    );
    throw refusal;
  }

  /** The permission row check; returns the row (for `resource_ids`) or audits and throws. */
  private async permitted(
    caller: AgentCaller,
    meta: CallMeta,
    need: Omit<Need, 'resourceType'>,
    ids: string[],
  ): Promise<PermissionView> {
    const rows = await this.permissions(caller);
    const permission = rows.find((p) => p.resourceType === 'files');
    const refused = refusalOf(permission, { ...need, resourceType: 'files' }, new Date());
    if (refused)
      return this.deny(
        caller,
        meta,
        ids,
        refused.reason,
        new ToolRefusal('Access refused.', refused.hint, refused.reason),
      );
    return permission!;
  }

  /** Opens the owner's grants for these files into non-extractable FKs (one query). */
  private async openKeys(
    caller: AgentCaller,
    fileIds: string[],
  ): Promise<{ keys: Map<string, FileKey>; refused: Map<string, KeyringFailure> }> {
    const keys = new Map<string, FileKey>();
    const refused = new Map<string, KeyringFailure>();
    if (fileIds.length === 0) return { keys, refused };
    const rows = await this.grants.forCall({
      userId: caller.userId,
      agentName: caller.agentName,
      resourceType: 'files',
      resourceIds: fileIds,
      epochs: [0],
    });
    const ownerKey = rows.length ? await this.pins.pinned(caller.userId) : undefined;
    const now = Date.now();
    await Promise.all(
      rows.map(async (r) => {
        const out = await openGrantRow({
          caller,
          resource: { resourceType: 'files', resourceId: r.resource_id, epoch: 0 },
          row: r,
          ownerKey,
          gateway: this.gateway,
          now,
        });
        if ('failure' in out) refused.set(r.resource_id, out.failure);
        else keys.set(r.resource_id, out.opened.fileKey);
      }),
    );
    for (const id of fileIds) if (!keys.has(id) && !refused.has(id)) refused.set(id, 'no-grant');
    return { keys, refused };
  }

  private async ownFile(userId: string, fileId: string): Promise<FileRow | undefined> {
    try {
      return await this.files.ownReadyFile(userId, fileId);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** One file the call names: allowed by the row, the owner's, and granted — or audited and refused. */
  private async oneFile(
    caller: AgentCaller,
    meta: CallMeta,
    rawId: string,
    level: Need['level'],
  ): Promise<{ file: FileRow; key: FileKey; meta: FileMeta }> {
    const fileId = rawId.toLowerCase();
    const permission = await this.permitted(caller, meta, { level }, [fileId]);
    const allowList = permission.conditions.resource_ids?.map((id) => id.toLowerCase());
    const file =
      !allowList || allowList.includes(fileId)
        ? await this.ownFile(caller.userId, fileId)
        : undefined;
    // Not allowed, someone else's, missing: one answer, one audit reason.
    if (!file) return this.deny(caller, meta, [fileId], 'not-found', noAccess());
    const ring = await this.openKeys(caller, [fileId]);
    const key = ring.keys.get(fileId);
    if (!key) {
      const failure = ring.refused.get(fileId) ?? 'no-grant';
      return this.deny(
        caller,
        meta,
        [fileId],
        failure,
        new ToolRefusal('No usable grant for this file.', KEY_FAILURE_HINT[failure], failure),
      );
    }
    const fileMeta = await openFileMeta(key, base64Decode(file.encrypted_metadata?.ct ?? ''));
    return { file, key, meta: fileMeta };
  }

  async listFiles(
    caller: AgentCaller,
    meta: CallMeta,
    input: { limit: number; cursor?: string },
  ): Promise<{ files: FileSummary[]; nextCursor: string | null }> {
    const permission = await this.permitted(
      caller,
      meta,
      { level: 'metadata', items: input.limit },
      [],
    );
    const only = permission.conditions.resource_ids?.map((id) => id.toLowerCase()) ?? null;
    // Only files this agent holds a grant for: the rest it could never name anyway.
    const ids = await this.grants.grantedFiles({
      userId: caller.userId,
      agentName: caller.agentName,
      after: input.cursor ?? null,
      only,
      limit: input.limit,
    });
    const ring = await this.openKeys(caller, ids);
    const out: FileSummary[] = [];
    const audit: AuditInsert[] = [];
    for (const id of ids) {
      const key = ring.keys.get(id);
      const file = key ? await this.ownFile(caller.userId, id) : undefined;
      if (!key || !file) {
        const reason = key ? 'not-found' : (ring.refused.get(id) ?? 'no-grant');
        audit.push(this.row(caller, meta, id, { outcome: 'denied', reason }));
        continue;
      }
      const m = await openFileMeta(key, base64Decode(file.encrypted_metadata?.ct ?? ''));
      out.push(summary(id, file, m));
      audit.push(
        this.row(caller, meta, id, {
          outcome: 'allowed',
          reason: 'metadata',
          decrypted: true,
          items: 1,
        }),
      );
    }
    await this.audit.record(audit);
    return { files: out, nextCursor: ids.length === input.limit ? ids[ids.length - 1]! : null };
  }

  async fileInfo(
    caller: AgentCaller,
    meta: CallMeta,
    input: { fileId: string },
  ): Promise<FileSummary> {
    const f = await this.oneFile(caller, meta, input.fileId, 'metadata');
    await this.audit.record([
      this.row(caller, meta, f.file.id, {
        outcome: 'allowed',
        reason: 'metadata',
        decrypted: true,
        items: 1,
      }),
    ]);
    return summary(f.file.id, f.file, f.meta);
  }

  async readFile(
    caller: AgentCaller,
    meta: CallMeta,
    input: { fileId: string },
  ): Promise<{ file: FileSummary; content: FileContent }> {
    const f = await this.oneFile(caller, meta, input.fileId, 'decrypt_ephemeral');
    const tooLarge = () =>
      this.deny(
        caller,
        meta,
        [f.file.id],
        'too-large',
        new ToolRefusal(
          `The file is larger than the ${this.maxReadBytes} bytes read_file returns.`,
          'Ask the owner for a smaller file, or use file_info for its metadata.',
          'too-large',
        ),
      );
    if (f.meta.size > this.maxReadBytes) return tooLarge();
    const plaintext = await this.decryptBounded(f.file, f.key);
    if (!plaintext) return tooLarge();
    try {
      const content = asContent(plaintext, f.meta.type);
      // Fail closed: if this insert throws, the content never leaves.
      await this.audit.record([
        this.row(caller, meta, f.file.id, { outcome: 'allowed', decrypted: true, items: 1 }),
      ]);
      return { file: summary(f.file.id, f.file, f.meta), content };
    } finally {
      wipe(plaintext);
    }
  }

  /** Decrypts the whole stream in memory, or returns null past the bound (the claimed size can lie). */
  private async decryptBounded(file: FileRow, key: FileKey): Promise<Uint8Array | null> {
    const reader = this.files
      .openContent(file)
      .stream.pipeThrough(createFileDecryptStream(key))
      .getReader();
    const parts: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        parts.push(value);
        if (total > this.maxReadBytes) {
          await reader.cancel();
          return null;
        }
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    } finally {
      wipe(...parts);
    }
  }
}
