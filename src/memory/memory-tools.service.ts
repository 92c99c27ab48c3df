import type { AuditInsert } from '../audit/audit.repository.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { GatewayKeys } from '../crypto/grants.ts';
import {
  type MemoryBody,
  type MemoryWriter,
  openMemoryEntry,
  sealMemoryEntry,
} from '../crypto/memory.ts';
import { uuidv7 } from '../crypto/uuid.ts';
import type { AgentCaller, Need } from '../gateway/access.ts';
import { NO_ACCESS, refusalOf } from '../gateway/access.ts';
import { type AuditOutcome, auditRow, type CallMeta } from '../gateway/audit-row.ts';
import { openGrantRow } from '../gateway/ephemeral.ts';
import type { GrantsRepository } from '../gateway/grants.repository.ts';
import type { IdentityPins } from '../gateway/pins.ts';
import { ToolRefusal } from '../gateway/refusal.ts';
import type { PermissionView } from '../gateway/types.ts';
import type { MemoryKeyRow, MemoryRepository } from './memory.repository.ts';
import { rank } from './rank.ts';

/** Audit rows of a pair without a memory key name this id (the column is NOT NULL). */
export const NO_MEMORY_KEY = '00000000-0000-0000-0000-000000000000';

export interface RecalledMemory {
  id: string;
  text: string;
  tags: string[];
  writtenBy: MemoryWriter;
  createdAt: string;
  updatedAt: string;
  score: number;
}

const NO_KEY_HINT =
  'The owner has not set up or granted memory for this agent; ask them to grant it in the app.';

/**
 * The memory tools' rules, per call: permission (`memory`, decrypt_ephemeral, allow_write for
 * writes) → the owner's signed memory grant, opened into a non-extractable key → audit row
 * committed → then (and only then) the entry is stored, deleted, or plaintext returned.
 */
export class MemoryToolsService {
  constructor(
    private readonly repo: MemoryRepository,
    private readonly grants: GrantsRepository,
    private readonly pins: IdentityPins,
    private readonly gateway: GatewayKeys,
    private readonly audit: AuditService,
    private readonly maxEntries: number,
  ) {}

  private row(
    caller: AgentCaller,
    meta: CallMeta,
    resourceId: string,
    r: AuditOutcome,
  ): AuditInsert {
    return auditRow('memory', caller, meta, resourceId, r);
  }

  private async deny(
    caller: AgentCaller,
    meta: CallMeta,
    resourceId: string,
    reason: string,
    refusal: ToolRefusal,
  ): Promise<never> {
    await this.audit.record([this.row(caller, meta, resourceId, { outcome: 'denied', reason })]);
    throw refusal;
  }

  /** Permission, key row and grant: the opened key, or an audited refusal. */
  private async open(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    need: Omit<Need, 'resourceType' | 'level'>,
  ): Promise<{ key: CryptoKey; keyRow: MemoryKeyRow; ownerKey: Uint8Array }> {
    const permission = permissions.find((p) => p.resourceType === 'memory');
    const keyRow = await this.repo.key(caller.userId, caller.agentName);
    const resourceId = keyRow?.key_id ?? NO_MEMORY_KEY;
    const refused = refusalOf(
      permission,
      { resourceType: 'memory', level: 'decrypt_ephemeral', ...need },
      new Date(),
    );
    if (refused)
      await this.deny(
        caller,
        meta,
        resourceId,
        refused.reason,
        new ToolRefusal('Access refused.', refused.hint, refused.reason),
      );
    const allowList = permission?.conditions.resource_ids?.map((id) => id.toLowerCase());
    if (!keyRow || (allowList && !allowList.includes(keyRow.key_id)))
      await this.deny(
        caller,
        meta,
        resourceId,
        'no-grant',
        new ToolRefusal('No memory for this agent.', NO_KEY_HINT, 'no-grant'),
      );
    const row = keyRow as MemoryKeyRow;
    const [grant] = await this.grants.forCall({
      userId: caller.userId,
      agentName: caller.agentName,
      resourceType: 'memory',
      resourceIds: [row.key_id],
      epochs: [0],
    });
    const ownerKey = await this.pins.pinned(caller.userId);
    if (!grant || !ownerKey)
      return this.deny(
        caller,
        meta,
        row.key_id,
        'no-grant',
        new ToolRefusal('No memory for this agent.', NO_KEY_HINT, 'no-grant'),
      );
    const out = await openGrantRow({
      caller,
      resource: { resourceType: 'memory', resourceId: row.key_id, epoch: 0 },
      row: grant,
      ownerKey,
      gateway: this.gateway,
    });
    if ('failure' in out)
      return this.deny(
        caller,
        meta,
        row.key_id,
        out.failure,
        out.failure === 'grant-expired'
          ? new ToolRefusal(
              'The memory grant has expired.',
              'Ask the owner to renew it.',
              'grant-expired',
            )
          : new ToolRefusal(
              'The memory grant does not verify.',
              'Ask the owner to grant memory again.',
              'bad-grant',
            ),
      );
    const key = out.opened.memoryKey;
    return { key, keyRow: row, ownerKey };
  }

  async remember(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    body: MemoryBody,
  ): Promise<{ id: string; createdAt: string }> {
    const { key, keyRow } = await this.open(caller, meta, permissions, { write: true });
    if ((await this.repo.count(caller.userId, caller.agentName)) >= this.maxEntries)
      await this.deny(
        caller,
        meta,
        keyRow.key_id,
        'memory-full',
        new ToolRefusal(
          'This agent’s memory is full.',
          `Forget entries first (at most ${this.maxEntries}).`,
          'memory-full',
        ),
      );
    const id = uuidv7();
    const envelope = await sealMemoryEntry({
      key,
      ctx: {
        userId: caller.userId,
        agentName: caller.agentName,
        keyId: keyRow.key_id,
        entryId: id,
      },
      writer: 'agent',
      body,
      signingKey: this.gateway.ed25519.privateKey,
    });
    await this.audit.record([
      this.row(caller, meta, id, { outcome: 'allowed', decrypted: true, items: 1 }),
    ]);
    await this.repo.insert({
      id,
      userId: caller.userId,
      agentName: caller.agentName,
      keyId: keyRow.key_id,
      writtenBy: 'agent',
      envelope,
    });
    return { id, createdAt: new Date().toISOString() };
  }

  async recall(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    input: { query: string; limit: number },
  ): Promise<{ memories: RecalledMemory[]; considered: number; rejected: number }> {
    const { key, keyRow, ownerKey } = await this.open(caller, meta, permissions, {
      items: input.limit,
    });
    const rows = await this.repo.entries(caller.userId, caller.agentName, this.maxEntries);
    const opened: Array<
      Omit<RecalledMemory, 'score' | 'updatedAt' | 'createdAt'> & {
        createdAt: Date;
        updatedAt: Date;
      }
    > = [];
    let rejected = 0;
    for (const r of rows) {
      try {
        const body = await openMemoryEntry({
          key,
          ctx: {
            userId: caller.userId,
            agentName: caller.agentName,
            keyId: keyRow.key_id,
            entryId: r.id,
          },
          envelope: r.envelope,
          signers: { agent: this.gateway.ed25519.publicKey, user: ownerKey },
        });
        opened.push({
          id: r.id,
          text: body.text,
          tags: body.tags,
          writtenBy: body.writer,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
        });
      } catch {
        rejected++;
      }
    }
    const top = rank(input.query, opened, input.limit);
    await this.audit.record([
      this.row(caller, meta, keyRow.key_id, {
        outcome: 'allowed',
        decrypted: true,
        items: top.length,
      }),
    ]);
    return {
      memories: top.map((m) => ({
        ...m,
        createdAt: m.createdAt.toISOString(),
        updatedAt: m.updatedAt.toISOString(),
        score: Math.round(m.score * 1000) / 1000,
      })),
      considered: opened.length,
      rejected,
    };
  }

  async forget(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    id: string,
  ): Promise<{ id: string; forgotten: true }> {
    await this.open(caller, meta, permissions, { write: true });
    const existing = await this.repo.entry(id, caller.userId, caller.agentName);
    if (!existing)
      await this.deny(
        caller,
        meta,
        id,
        'not-found',
        new ToolRefusal(NO_ACCESS, 'Use recall to find the id of the memory.', 'not-found'),
      );
    await this.audit.record([this.row(caller, meta, id, { outcome: 'allowed', items: 1 })]);
    await this.repo.remove(id, caller.userId, caller.agentName);
    return { id, forgotten: true };
  }
}
