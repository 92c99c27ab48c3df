import { BadSignatureError } from '../chat/chat.service.ts';
import { constantTimeEqual } from '../crypto/bytes.ts';
import { verifyGrantSignature } from '../crypto/grants.ts';
import { memoryEntryWriter, verifyMemoryEntrySignature } from '../crypto/memory.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import { GrantsRepository } from '../gateway/grants.repository.ts';
import type { IdentityPins } from '../gateway/pins.ts';
import { type MemoryEntryRow, type MemoryKeyRow, MemoryRepository } from './memory.repository.ts';
import type { MemoryEntryView, MemoryGrantView, MemoryKeyView } from './types.ts';

function keyView(r: MemoryKeyRow): MemoryKeyView {
  return {
    agentName: r.agent_name,
    keyId: r.key_id,
    wrappedKey: r.wrapped_key.toString('base64'),
    createdAt: r.created_at.toISOString(),
  };
}

function entryView(r: MemoryEntryRow): MemoryEntryView {
  return {
    id: r.id,
    agentName: r.agent_name,
    keyId: r.key_id,
    writtenBy: r.written_by,
    envelope: r.envelope.toString('base64'),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/**
 * People's side of agent memory: the wrapped memory key, its grant to the gateway, and the
 * entries (ciphertext only: the server never holds the memory key). Every grant and every entry
 * a person writes is checked against the identity key the gateway pinned before it is stored.
 */
export class MemoryService {
  private readonly repo: MemoryRepository;

  constructor(
    private readonly pool: Pool,
    private readonly pins: IdentityPins,
    private readonly maxEntries: number,
  ) {
    this.repo = new MemoryRepository(pool);
  }

  private async keyRow(userId: string, agentName: string): Promise<MemoryKeyRow> {
    const row = await this.repo.key(userId, agentName);
    if (!row) throw new NotFoundError('This agent has no memory key yet.');
    return row;
  }

  private async ownerKey(userId: string): Promise<Uint8Array> {
    const key = await this.pins.pinOrVerify(userId);
    if (!key)
      throw new ConflictError(
        'identity-not-pinned',
        'The gateway cannot verify your identity key: set up encryption first.',
      );
    return key;
  }

  async key(userId: string, agentName: string): Promise<MemoryKeyView> {
    return keyView(await this.keyRow(userId, agentName));
  }

  /** Stores the pair's key once; the same upload again is a no-op, another key a conflict. */
  async createKey(
    userId: string,
    input: { agentName: string; keyId: string; wrappedKey: Uint8Array },
  ): Promise<{ view: MemoryKeyView; created: boolean }> {
    const inserted = await this.repo.insertKey({ userId, ...input });
    if (inserted) return { view: keyView(inserted), created: true };
    const existing = await this.repo.key(userId, input.agentName);
    if (
      existing &&
      existing.key_id === input.keyId.toLowerCase() &&
      constantTimeEqual(existing.wrapped_key, input.wrappedKey)
    )
      return { view: keyView(existing), created: false };
    throw new ConflictError('memory-key-exists', 'This agent already has a memory key.');
  }

  /** Replaces any earlier memory grant of this agent. */
  async grant(
    userId: string,
    input: { agentName: string; grantId: string; expiresAt: Date | null; envelope: Uint8Array },
  ): Promise<MemoryGrantView> {
    const row = await this.keyRow(userId, input.agentName);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now())
      throw new BadRequestError('expiresAt is in the past.');
    const ownerKey = await this.ownerKey(userId);
    let ok = false;
    try {
      ok = await verifyGrantSignature({
        context: {
          userId,
          agentId: input.agentName,
          resourceType: 'memory',
          resourceId: row.key_id,
          epoch: 0,
          grantId: input.grantId,
          accessLevel: 'decrypt_ephemeral',
          expiresAt: input.expiresAt?.getTime() ?? null,
        },
        envelope: input.envelope,
        ownerEd25519PublicKey: ownerKey,
      });
    } catch (err) {
      throw new BadRequestError(`The memory grant is malformed: ${(err as Error).message}`);
    }
    if (!ok) throw new BadSignatureError('The memory grant is not signed by you.');
    await withTransaction(this.pool, async (client) => {
      const grants = new GrantsRepository(client);
      await grants.removeForResource(userId, input.agentName, 'memory', row.key_id);
      await grants.insert({
        grantId: input.grantId,
        userId,
        agentName: input.agentName,
        resourceType: 'memory',
        resourceId: row.key_id,
        accessLevel: 'decrypt_ephemeral',
        // One key opens every entry, past and future.
        scope: 'all_history',
        expiresAt: input.expiresAt,
        wraps: [{ epoch: 0, envelope: input.envelope }],
      });
    });
    return {
      grantId: input.grantId,
      agentName: input.agentName,
      resourceType: 'memory',
      resourceId: row.key_id,
      expiresAt: input.expiresAt?.toISOString() ?? null,
    };
  }

  async entries(userId: string, agentName: string): Promise<MemoryEntryView[]> {
    return (await this.repo.entries(userId, agentName, this.maxEntries)).map(entryView);
  }

  /** A person's write: a new entry or a correction, signed by their own identity key. */
  async putEntry(
    userId: string,
    agentName: string,
    id: string,
    envelope: Uint8Array,
  ): Promise<MemoryEntryView> {
    const row = await this.keyRow(userId, agentName);
    let writer: string;
    try {
      writer = memoryEntryWriter(envelope);
    } catch (err) {
      throw new BadRequestError(`The memory entry is malformed: ${(err as Error).message}`);
    }
    if (writer !== 'user') throw new BadRequestError('Entries you write must be signed as you.');
    const ctx = { userId, agentName, keyId: row.key_id, entryId: id };
    if (!(await verifyMemoryEntrySignature(ctx, envelope, await this.ownerKey(userId))))
      throw new BadSignatureError('The memory entry is not signed by you.');
    const existing = await this.repo.entry(id, userId, agentName);
    if (!existing && (await this.repo.count(userId, agentName)) >= this.maxEntries)
      throw new ConflictError(
        'memory-full',
        `This agent’s memory holds at most ${this.maxEntries} entries.`,
      );
    const saved = await this.repo.upsert({
      id,
      userId,
      agentName,
      keyId: row.key_id,
      writtenBy: 'user',
      envelope,
    });
    if (!saved) throw new NotFoundError();
    return entryView(saved);
  }

  async deleteEntry(userId: string, agentName: string, id: string): Promise<void> {
    if (!(await this.repo.remove(id, userId, agentName))) throw new NotFoundError();
  }
}
