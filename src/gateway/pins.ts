import { constantTimeEqual } from '../crypto/bytes.ts';
import { type GatewayKeys, signIdentityPin, verifyIdentityPin } from '../crypto/grants.ts';
import type { GrantsRepository, PinRow } from './grants.repository.ts';

/**
 * Where the gateway keeps the owner identity keys it pinned. The first key it accepts for an
 * owner is stored with the gateway's own signature; afterwards only that key verifies grants.
 */
export interface IdentityPins {
  /** The pinned key, pinning `registered` first if none is pinned yet. Undefined: refuse. */
  pinOrVerify(userId: string): Promise<Uint8Array | undefined>;
  /** The pinned key, if a valid pin exists; never pins (grants are checked with this). */
  pinned(userId: string): Promise<Uint8Array | undefined>;
  /**
   * Message senders' keys as pinned, pinning the registered key of a sender seen for the first
   * time: a later swap of a member's key in `users` cannot pass a forged message off as theirs.
   */
  senderKeys(userIds: string[]): Promise<Map<string, Uint8Array>>;
  /**
   * One read for a call: the owner's key as `pinned` gives it (never pinned here) and the
   * senders' keys as `senderKeys` gives them. `read`: the pin rows of the owner and these
   * senders when the caller already read them (every pin there is; missing ones are made here).
   */
  callKeys(
    ownerId: string,
    senderIds: string[],
    read?: PinRow[],
  ): Promise<{ owner: Uint8Array | undefined; senders: Map<string, Uint8Array> }>;
}

export class GatewayIdentityPins implements IdentityPins {
  constructor(
    private readonly repo: GrantsRepository,
    private readonly gateway: GatewayKeys,
  ) {}

  async pinned(userId: string): Promise<Uint8Array | undefined> {
    const row = await this.repo.pin(userId);
    return row ? this.validPin(row) : undefined;
  }

  /** A pin made under another gateway key, or edited in the database, is worthless. */
  private async validPin(row: PinRow): Promise<Uint8Array | undefined> {
    if (!constantTimeEqual(row.gateway_public, this.gateway.ed25519.publicKey)) return undefined;
    const ok = await verifyIdentityPin(
      this.gateway.ed25519.publicKey,
      row.user_id,
      row.ed25519_public,
      row.pin_signature,
    ).catch(() => false);
    return ok ? new Uint8Array(row.ed25519_public) : undefined;
  }

  async senderKeys(userIds: string[]): Promise<Map<string, Uint8Array>> {
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return new Map<string, Uint8Array>();
    return this.sendersFrom(ids, await this.repo.pins(ids));
  }

  async callKeys(ownerId: string, senderIds: string[], read?: PinRow[]) {
    const senders = [...new Set(senderIds)];
    const rows = read ?? (await this.repo.pins([...new Set([ownerId, ...senders])]));
    // The owner's pin as read before any sender is pinned: this path never pins the owner.
    const ownerRow = rows.find((r) => r.user_id === ownerId);
    const owner = ownerRow ? await this.validPin(ownerRow) : undefined;
    if (senders.length === 0) return { owner, senders: new Map<string, Uint8Array>() };
    const wanted = new Set(senders);
    return {
      owner,
      senders: await this.sendersFrom(
        senders,
        rows.filter((r) => wanted.has(r.user_id)),
      ),
    };
  }

  /** Valid pins of `ids` among `rows`, pinning the registered key of a sender with none yet. */
  private async sendersFrom(ids: string[], pinRows: PinRow[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    let rows = pinRows;
    const missing = ids.filter((id) => !rows.some((r) => r.user_id === id));
    if (missing.length) {
      const registered = await this.repo.registeredSigningKeys(missing);
      const fresh = await Promise.all(
        registered
          .filter((r) => r.identity_signing_key.length === 32)
          .map(async (r) => ({
            userId: r.id,
            key: r.identity_signing_key,
            gatewayPublic: this.gateway.ed25519.publicKey,
            signature: await signIdentityPin(this.gateway, r.id, r.identity_signing_key),
          })),
      );
      await this.repo.insertPins(fresh);
      if (fresh.length) rows = await this.repo.pins(ids);
    }
    await Promise.all(
      rows.map(async (r) => {
        const key = await this.validPin(r);
        if (key) out.set(r.user_id, key);
      }),
    );
    return out;
  }

  async pinOrVerify(userId: string): Promise<Uint8Array | undefined> {
    const existing = await this.repo.pin(userId);
    if (existing) return this.pinned(userId);
    const registered = await this.repo.registeredSigningKey(userId);
    if (registered?.length !== 32) return undefined;
    const signature = await signIdentityPin(this.gateway, userId, registered);
    await this.repo.insertPin({
      userId,
      key: registered,
      gatewayPublic: this.gateway.ed25519.publicKey,
      signature,
    });
    // Someone may have pinned concurrently: whatever is stored now is the pin.
    return this.pinned(userId);
  }
}
