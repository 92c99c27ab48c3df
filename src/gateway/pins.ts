import { constantTimeEqual } from '../crypto/bytes.ts';
import { type GatewayKeys, signIdentityPin, verifyIdentityPin } from '../crypto/grants.ts';
import type { GrantsRepository } from './grants.repository.ts';

/**
 * Where the gateway keeps the owner identity keys it pinned. The first key it accepts for an
 * owner is stored with the gateway's own signature; afterwards only that key verifies grants.
 */
export interface IdentityPins {
  /** The pinned key, pinning `registered` first if none is pinned yet. Undefined: refuse. */
  pinOrVerify(userId: string): Promise<Uint8Array | undefined>;
  /** The pinned key, if a valid pin exists; never pins (tool calls use this). */
  pinned(userId: string): Promise<Uint8Array | undefined>;
}

export class GatewayIdentityPins implements IdentityPins {
  constructor(
    private readonly repo: GrantsRepository,
    private readonly gateway: GatewayKeys,
  ) {}

  async pinned(userId: string): Promise<Uint8Array | undefined> {
    const row = await this.repo.pin(userId);
    if (!row) return undefined;
    // A pin made under another gateway key, or edited in the database, is worthless.
    if (!constantTimeEqual(row.gateway_public, this.gateway.ed25519.publicKey)) return undefined;
    const ok = await verifyIdentityPin(
      this.gateway.ed25519.publicKey,
      userId,
      row.ed25519_public,
      row.pin_signature,
    ).catch(() => false);
    return ok ? new Uint8Array(row.ed25519_public) : undefined;
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
