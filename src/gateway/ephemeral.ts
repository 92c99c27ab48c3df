import type { ChatKey } from '../crypto/chatkeys.ts';
import { type GatewayKeys, grantExpired, openGrant } from '../crypto/grants.ts';
import type { AgentCaller } from './access.ts';
import type { CallGrantRow, GrantsRepository } from './grants.repository.ts';
import type { IdentityPins } from './pins.ts';

export type KeyringFailure = 'no-grant' | 'bad-grant' | 'grant-expired';

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
        const context = {
          userId: caller.userId,
          agentId: caller.agentName,
          resourceType: 'chat' as const,
          resourceId: chatId,
          epoch: r.epoch,
          grantId: r.grant_id,
          accessLevel: 'decrypt_ephemeral' as const,
          expiresAt: r.expires_at?.getTime() ?? null,
        };
        if (!ownerKey) {
          refused.set(r.epoch, 'bad-grant');
          return;
        }
        try {
          const opened = await openGrant({
            context,
            envelope: r.envelope,
            ownerEd25519PublicKey: ownerKey,
            gateway: this.gateway,
          });
          // Checked after the signature: the expiry that counts is the signed one.
          if (grantExpired(context, now)) refused.set(r.epoch, 'grant-expired');
          else if (opened.resourceType === 'chat') keys.set(r.epoch, opened.chatKey);
        } catch {
          refused.set(r.epoch, 'bad-grant');
        }
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
