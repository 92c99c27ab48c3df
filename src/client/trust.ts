/**
 * Pinned identities. Identity keys never change for an account, so the first key this device
 * sees for a user (or the key a verified membership log vouches for) is pinned in the key store,
 * and any other key later is a hard `identity-changed` error — for sending to that user and for
 * accepting anything they signed — never a silent switch. Safety numbers can be compared out of
 * band and marked verified.
 */
import { hexDecode, hexEncode } from '../crypto/bytes.ts';
import {
  assertIdentityPublic,
  fingerprint,
  fingerprintDigest,
  fingerprintDigits,
  type IdentityPublic,
  type IdentityPublicJson,
  identityPublicFromJson,
  safetyNumber,
} from '../crypto/identity.ts';
import type { ClientContext } from './context.ts';
import { type Http, VutlerClientError } from './http.ts';
import type { IdentityPin } from './keystore.ts';

/**
 * A user's public identity from the server, checked here: the binding signature must hold and
 * the fingerprint is computed locally, not taken from the server.
 */
export async function fetchPublicIdentity(
  http: Http,
  userId: string,
): Promise<{ identity: IdentityPublic; fingerprint: string }> {
  const res = await http.request<{ identity: IdentityPublicJson }>(
    `/api/users/${encodeURIComponent(userId)}/keys`,
  );
  const identity = identityPublicFromJson(res.identity);
  await assertIdentityPublic(identity);
  if (identity.userId !== userId) {
    throw new VutlerClientError(
      'identity-mismatch',
      'The server returned an identity bound to another user.',
    );
  }
  return { identity, fingerprint: await fingerprint(identity) };
}

export interface TrustedIdentity {
  identity: IdentityPublic;
  /** Hex identity digest (what pins and the membership log record). */
  digest: string;
}

export interface IdentityStatus {
  status: 'unverified' | 'verified' | 'changed';
  /** Over the key the server offers now (for `changed`: the number to compare before accepting). */
  safetyNumber: string;
  digest: string;
  /** For `changed`: the pinned digest. */
  pinned?: string;
}

export class IdentityChangedError extends VutlerClientError {
  constructor(
    readonly userId: string,
    readonly pinned: string,
    readonly offered: string,
  ) {
    super(
      'identity-changed',
      `The identity key offered for ${userId} is not the one this device pinned. Nothing is sent to or accepted from them until this is resolved.`,
    );
  }
}

export class TrustClient {
  private readonly cache = new Map<string, Promise<TrustedIdentity>>();

  constructor(private readonly c: ClientContext) {}

  /** Pins (or checks) the caller's own identity on unlock. */
  async pinSelf(): Promise<void> {
    const me = this.c.unlocked();
    const digest = hexEncode(await fingerprintDigest(me.identityPublic));
    await this.check(me.id, digest, 'self');
    this.cache.set(me.id, Promise.resolve({ identity: me.identityPublic, digest }));
  }

  private async check(
    userId: string,
    digest: string,
    source: IdentityPin['source'],
    vouched?: string,
  ): Promise<void> {
    const device = this.c.device();
    const pin = await device.pin(userId);
    if (pin) {
      if (pin.fingerprint !== digest)
        throw new IdentityChangedError(userId, pin.fingerprint, digest);
      return;
    }
    if (vouched !== undefined && vouched !== digest) {
      throw new IdentityChangedError(userId, vouched, digest);
    }
    await device.setPin({
      userId,
      fingerprint: digest,
      firstSeen: new Date().toISOString(),
      verified: false,
      source: vouched !== undefined ? 'log' : source,
    });
  }

  /**
   * A user's identity, only if it matches this device's pin — or, with no pin yet, the digest a
   * verified membership log recorded for them (`vouched`), else it is pinned on first use.
   */
  identityOf(userId: string, vouched?: string): Promise<TrustedIdentity> {
    let p = this.cache.get(userId);
    if (!p) {
      p = (async () => {
        const { identity } = await fetchPublicIdentity(this.c.http, userId);
        const digest = hexEncode(await fingerprintDigest(identity));
        await this.check(userId, digest, 'first-use', vouched);
        return { identity, digest };
      })();
      this.cache.set(userId, p);
      // A failure is not cached: the next call asks again (and fails again if still wrong).
      p.catch(() => this.cache.delete(userId));
    }
    return p.then((t) => {
      if (vouched !== undefined && t.digest !== vouched) {
        throw new IdentityChangedError(userId, vouched, t.digest);
      }
      return t;
    });
  }

  /** The 60-digit number both people compare (same on both sides). */
  async safetyNumber(userId: string): Promise<string> {
    const me = this.c.unlocked();
    const { identity } = await this.identityOf(userId);
    return safetyNumber(me.identityPublic, identity);
  }

  /**
   * Marks a pin verified after the user compared safety numbers. Pass the number they compared:
   * it must be the one for the pinned key.
   */
  async markVerified(userId: string, comparedSafetyNumber: string): Promise<IdentityPin> {
    const number = await this.safetyNumber(userId);
    if (number !== comparedSafetyNumber) {
      throw new VutlerClientError('safety-number-mismatch', 'The safety numbers differ.');
    }
    const device = this.c.device();
    const pin = (await device.pin(userId))!;
    const verified = { ...pin, verified: true };
    await device.setPin(verified);
    return verified;
  }

  /**
   * What the server offers for a user now, against this device's pin — asked afresh (not the
   * cached identity), so a key changed while the page is open is seen without a reload. A user
   * never seen before is pinned on first use, as `identityOf` does.
   */
  async status(userId: string): Promise<IdentityStatus> {
    const me = this.c.unlocked();
    const { identity } = await fetchPublicIdentity(this.c.http, userId);
    const digest = hexEncode(await fingerprintDigest(identity));
    const number = await safetyNumber(me.identityPublic, identity);
    const pin = await this.c.device().pin(userId);
    if (!pin) {
      await this.check(userId, digest, 'first-use');
      return { status: 'unverified', safetyNumber: number, digest };
    }
    if (pin.fingerprint !== digest) {
      this.cache.delete(userId);
      return { status: 'changed', safetyNumber: number, digest, pinned: pin.fingerprint };
    }
    return { status: pin.verified ? 'verified' : 'unverified', safetyNumber: number, digest };
  }

  /**
   * Replaces a pin with the key the server offers now, after the user compared the safety number
   * computed over that new key (pass it: a key swapped again in between is refused). The new pin
   * is marked verified, since accepting it is exactly that comparison.
   */
  async acceptNewKey(userId: string, comparedSafetyNumber: string): Promise<IdentityPin> {
    const me = this.c.unlocked();
    const { identity } = await fetchPublicIdentity(this.c.http, userId);
    if ((await safetyNumber(me.identityPublic, identity)) !== comparedSafetyNumber) {
      throw new VutlerClientError('safety-number-mismatch', 'The safety numbers differ.');
    }
    const digest = hexEncode(await fingerprintDigest(identity));
    const device = this.c.device();
    const old = await device.pin(userId);
    const pin: IdentityPin = {
      userId,
      fingerprint: digest,
      firstSeen: old?.fingerprint === digest ? old.firstSeen : new Date().toISOString(),
      verified: true,
      source: 'first-use',
    };
    await device.setPin(pin);
    this.cache.set(userId, Promise.resolve({ identity, digest }));
    return pin;
  }

  /** Takes back a verification (the pin itself stays). */
  async clearVerified(userId: string): Promise<void> {
    const device = this.c.device();
    const pin = await device.pin(userId);
    if (pin?.verified) await device.setPin({ ...pin, verified: false });
  }

  /** Every pin on this device for the logged-in account, with its 30-digit fingerprint. */
  async pins(): Promise<(IdentityPin & { digits: string })[]> {
    const pins = await this.c.device().pins();
    return pins.map((p) => ({ ...p, digits: fingerprintDigits(hexDecode(p.fingerprint)) }));
  }
}
