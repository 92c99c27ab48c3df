import type { ChatKey } from '../crypto/chatkeys.ts';
import {
  type GatewayKeys,
  type GrantContext,
  grantExpired,
  type OpenedGrant,
  openGrant,
} from '../crypto/grants.ts';
import type { AgentCaller } from './access.ts';
import type { CallGrantRow, GrantsRepository } from './grants.repository.ts';
import type { IdentityPins } from './pins.ts';

export type KeyringFailure = 'no-grant' | 'bad-grant' | 'grant-expired';

/**
 * Opens one stored grant row for one call — the only way the gateway opens a grant: the wrap
 * is verified against the owner's identity key as the gateway pinned it (none pinned: a bad
 * grant), under the context the row claims (who, which resource and epoch, grant id, level,
 * expiry); only then is the expiry checked, because the one that counts is the signed one.
 */
export async function openGrantRow<T extends OpenedGrant['resourceType']>(p: {
  caller: AgentCaller;
  resource: { resourceType: T; resourceId: string; epoch: number };
  row: Pick<CallGrantRow, 'grant_id' | 'expires_at' | 'envelope'>;
  ownerKey: Uint8Array | undefined;
  gateway: GatewayKeys;
  now?: number;
}): Promise<
  | { opened: Extract<OpenedGrant, { resourceType: T }> }
  | { failure: Exclude<KeyringFailure, 'no-grant'> }
> {
  if (!p.ownerKey) return { failure: 'bad-grant' };
  const context: GrantContext = {
    userId: p.caller.userId,
    agentId: p.caller.agentName,
    ...p.resource,
    grantId: p.row.grant_id,
    accessLevel: 'decrypt_ephemeral',
    expiresAt: p.row.expires_at?.getTime() ?? null,
  };
  let opened: OpenedGrant;
  try {
    opened = await openGrant({
      context,
      envelope: p.row.envelope,
      ownerEd25519PublicKey: p.ownerKey,
      gateway: p.gateway,
    });
  } catch {
    return { failure: 'bad-grant' };
  }
  if (!isOf(opened, p.resource.resourceType)) return { failure: 'bad-grant' };
  return grantExpired(context, p.now) ? { failure: 'grant-expired' } : { opened };
}

function isOf<T extends OpenedGrant['resourceType']>(
  g: OpenedGrant,
  t: T,
): g is Extract<OpenedGrant, { resourceType: T }> {
  return g.resourceType === t;
}

export interface CallKeyring {
  /** Non-extractable epoch keys this call may use. */
  keys: Map<number, ChatKey>;
  /** Epochs asked for that have a row but could not be opened, and why. */
  refused: Map<number, KeyringFailure>;
}

/**
 * Opens the owner's grants for one chat and one tool call: each wrap is verified against the
 * owner's identity key as the gateway pinned it, then unwrapped into non-extractable keys. The
 * keys live in the returned object only; nothing is cached across calls.
 */
export class EphemeralKeys {
  constructor(
    private readonly grants: GrantsRepository,
    private readonly pins: IdentityPins,
    private readonly gateway: GatewayKeys,
  ) {}

  async open(
    caller: AgentCaller,
    chatId: string,
    epochs: number[],
    now = Date.now(),
    /** The owner's pinned key when the caller already read it (`IdentityPins.callKeys`). */
    pinned?: { owner: Uint8Array | undefined },
    /** This (owner, agent)'s grant rows of `chatId` when the caller already read them. */
    read?: CallGrantRow[],
  ): Promise<CallKeyring> {
    const keys = new Map<number, ChatKey>();
    const refused = new Map<number, KeyringFailure>();
    const wanted = [...new Set(epochs)];
    if (wanted.length === 0) return { keys, refused };
    const rows = read
      ? read.filter((r) => wanted.includes(r.epoch))
      : await this.grants.forCall({
          userId: caller.userId,
          agentName: caller.agentName,
          resourceType: 'chat',
          resourceIds: [chatId],
          epochs: wanted,
        });
    if (rows.length === 0) return { keys, refused };
    const ownerKey = pinned ? pinned.owner : await this.pins.pinned(caller.userId);
    await Promise.all(
      rows.map(async (r) => {
        const out = await openGrantRow({
          caller,
          resource: { resourceType: 'chat', resourceId: chatId, epoch: r.epoch },
          row: r,
          ownerKey,
          gateway: this.gateway,
          now,
        });
        if ('failure' in out) refused.set(r.epoch, out.failure);
        else keys.set(r.epoch, out.opened.chatKey);
      }),
    );
    return { keys, refused };
  }

  /** Which epochs of which chats have a stored grant row (metadata only: nothing is opened). */
  async grantedEpochs(caller: AgentCaller, chatIds: string[]): Promise<Map<string, Set<number>>> {
    const out = new Map<string, Set<number>>();
    for (const r of await this.grants.epochsGranted(
      caller.userId,
      caller.agentName,
      'chat',
      chatIds,
    )) {
      const s = out.get(r.resource_id) ?? new Set<number>();
      s.add(r.epoch);
      out.set(r.resource_id, s);
    }
    return out;
  }
}
