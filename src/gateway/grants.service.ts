import { verifyGrantSignature } from '../crypto/grants.ts';
import { type Pool, withTransaction } from '../db/pool.ts';
import { AppError, BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import type { ChatMembership } from './chats.repository.ts';
import { type GrantRow, GrantsRepository } from './grants.repository.ts';
import type { IdentityPins } from './pins.ts';
import type { GrantResourceType, GrantScope, GrantView } from './types.ts';

/** Whether `userId` owns a complete file (VdriveService implements it). */
export interface OwnedFiles {
  ownReadyFile(userId: string, fileId: string): Promise<unknown>;
}

/** Same problem type as a badly signed chat message or key wrap. */
export class BadGrantSignatureError extends AppError {
  constructor(detail: string) {
    super(400, 'bad-signature', 'Bad signature', detail);
  }
}

export interface GrantWrapInput {
  epoch: number;
  envelope: Uint8Array;
}

function views(rows: GrantRow[]): GrantView[] {
  const byId = new Map<string, GrantView>();
  for (const r of rows) {
    let v = byId.get(r.grant_id);
    if (!v) {
      v = {
        grantId: r.grant_id,
        agentName: r.agent_name,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        scope: r.scope,
        accessLevel: r.access_level,
        expiresAt: r.expires_at?.toISOString() ?? null,
        epochs: [],
        createdAt: r.created_at.toISOString(),
      };
      byId.set(r.grant_id, v);
    }
    v.epochs.push(r.epoch);
  }
  for (const v of byId.values()) v.epochs.sort((a, b) => a - b);
  return [...byId.values()];
}

/**
 * Grants as people manage them: the owner's client wraps chat epoch keys to the gateway key and
 * signs them; this service checks each signature against the owner's pinned identity key before
 * storing anything, so it never stores a grant the gateway would later refuse.
 */
export class GrantsService {
  private readonly repo: GrantsRepository;

  constructor(
    private readonly pool: Pool,
    private readonly membership: ChatMembership,
    private readonly pins: IdentityPins,
    private readonly files?: OwnedFiles,
  ) {
    this.repo = new GrantsRepository(pool);
  }

  private async checkWraps(
    ownerKey: Uint8Array,
    terms: {
      userId: string;
      agentName: string;
      resourceType: GrantResourceType;
      resourceId: string;
      grantId: string;
      expiresAt: Date | null;
    },
    wraps: GrantWrapInput[],
  ): Promise<void> {
    for (const w of wraps) {
      let ok = false;
      try {
        ok = await verifyGrantSignature({
          context: {
            userId: terms.userId,
            agentId: terms.agentName,
            resourceType: terms.resourceType,
            resourceId: terms.resourceId,
            epoch: w.epoch,
            grantId: terms.grantId,
            accessLevel: 'decrypt_ephemeral',
            expiresAt: terms.expiresAt?.getTime() ?? null,
          },
          envelope: w.envelope,
          ownerEd25519PublicKey: ownerKey,
        });
      } catch (err) {
        throw new BadRequestError(
          `The grant for epoch ${w.epoch} is malformed: ${(err as Error).message}`,
        );
      }
      if (!ok)
        throw new BadGrantSignatureError(`The grant for epoch ${w.epoch} is not signed by you.`);
    }
  }

  private async ownerKey(userId: string): Promise<Uint8Array> {
    const key = await this.pins.pinOrVerify(userId);
    if (!key) {
      throw new ConflictError(
        'identity-not-pinned',
        'The gateway cannot verify your identity key: set up encryption first.',
      );
    }
    return key;
  }

  /** Replaces any earlier grant of this chat (or file) to this agent. */
  async create(
    userId: string,
    input: {
      grantId: string;
      agentName: string;
      resourceType?: GrantResourceType;
      resourceId: string;
      scope: GrantScope;
      expiresAt: Date | null;
      wraps: GrantWrapInput[];
    },
  ): Promise<GrantView> {
    if (input.resourceType === 'files') return this.createFile(userId, { ...input });
    const [chat] = await this.membership.activeChats(userId, [input.resourceId]);
    if (!chat) throw new NotFoundError();
    const epochs = new Set(input.wraps.map((w) => w.epoch));
    if (epochs.size !== input.wraps.length) throw new BadRequestError('Two wraps for one epoch.');
    if ([...epochs].some((e) => e > chat.current_epoch))
      throw new BadRequestError('A wrap names a future epoch.');
    if (!epochs.has(chat.current_epoch))
      throw new ConflictError('stale-epoch', `Include the current epoch ${chat.current_epoch}.`, {
        currentEpoch: chat.current_epoch,
      });
    if (input.scope === 'from_now_on' && epochs.size !== 1)
      throw new BadRequestError('A "from now on" grant wraps only the current epoch.');
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now())
      throw new BadRequestError('expiresAt is in the past.');
    const key = await this.ownerKey(userId);
    await this.checkWraps(key, { userId, ...input, resourceType: 'chat' }, input.wraps);
    await withTransaction(this.pool, async (client) => {
      const repo = new GrantsRepository(client);
      await repo.removeForResource(userId, input.agentName, 'chat', input.resourceId);
      await repo.insert({
        ...input,
        userId,
        resourceType: 'chat',
        accessLevel: 'decrypt_ephemeral',
      });
    });
    return views(await this.repo.ofGrant(input.grantId, userId))[0]!;
  }

  /**
   * A file grant: the file's FK wrapped once (epoch 0) to the gateway. Files have no epochs, so
   * the scope is always `all_history`; revoking deletes the one wrap.
   */
  private async createFile(
    userId: string,
    input: {
      grantId: string;
      agentName: string;
      resourceId: string;
      expiresAt: Date | null;
      wraps: GrantWrapInput[];
    },
  ): Promise<GrantView> {
    if (!this.files) throw new BadRequestError('File grants are not available on this server.');
    // Someone else's file and a missing one get the same answer.
    await this.files.ownReadyFile(userId, input.resourceId);
    if (input.wraps.length !== 1 || input.wraps[0]!.epoch !== 0)
      throw new BadRequestError('A file grant is exactly one wrap with epoch 0.');
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now())
      throw new BadRequestError('expiresAt is in the past.');
    const key = await this.ownerKey(userId);
    await this.checkWraps(key, { userId, ...input, resourceType: 'files' }, input.wraps);
    await withTransaction(this.pool, async (client) => {
      const repo = new GrantsRepository(client);
      await repo.removeForResource(userId, input.agentName, 'files', input.resourceId);
      await repo.insert({
        ...input,
        userId,
        resourceType: 'files',
        accessLevel: 'decrypt_ephemeral',
        scope: 'all_history',
      });
    });
    return views(await this.repo.ofGrant(input.grantId, userId))[0]!;
  }

  /** Adds epoch wraps to an existing grant (after a rotation: "from now on" keeps working). */
  async addWraps(userId: string, grantId: string, wraps: GrantWrapInput[]): Promise<GrantView> {
    const rows = await this.repo.ofGrant(grantId, userId);
    const first = rows[0];
    if (first?.resource_type !== 'chat') throw new NotFoundError();
    const [chat] = await this.membership.activeChats(userId, [first.resource_id]);
    if (!chat) throw new NotFoundError();
    if (wraps.some((w) => w.epoch > chat.current_epoch))
      throw new BadRequestError('A wrap names a future epoch.');
    const key = await this.ownerKey(userId);
    await this.checkWraps(
      key,
      {
        userId,
        agentName: first.agent_name,
        resourceType: 'chat',
        resourceId: first.resource_id,
        grantId,
        expiresAt: first.expires_at,
      },
      wraps,
    );
    await this.repo.insert({
      grantId,
      userId,
      agentName: first.agent_name,
      resourceType: first.resource_type,
      resourceId: first.resource_id,
      accessLevel: first.access_level,
      scope: first.scope,
      expiresAt: first.expires_at,
      wraps,
    });
    return views(await this.repo.ofGrant(grantId, userId))[0]!;
  }

  async list(userId: string, agentName?: string): Promise<GrantView[]> {
    return views(await this.repo.list(userId, agentName ?? null));
  }

  /** Deletes every wrap of the grant; the caller's client then rotates the chat epoch. */
  async revoke(
    userId: string,
    grantId: string,
  ): Promise<{ resourceType: string; resourceId: string }> {
    const rows = await this.repo.revoke(grantId, userId);
    const first = rows[0];
    if (!first) throw new NotFoundError();
    return { resourceType: first.resource_type, resourceId: first.resource_id };
  }
}
