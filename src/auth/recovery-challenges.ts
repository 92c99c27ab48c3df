import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RECOVERY_NONCE_BYTES } from '../crypto/recovery.ts';
import { ServiceUnavailableError } from '../errors.ts';

export const RECOVERY_CHALLENGE_TTL_SECONDS = 5 * 60;

const digest = (b: Uint8Array | string) => createHash('sha256').update(b).digest('base64url');

/**
 * Single-use recovery nonces in Redis, shared by every API node. A nonce is bound to the email it
 * was issued for and expires after five minutes; `consume` deletes it atomically (GETDEL), so a
 * recorded answer can never be accepted twice. Keys and values are hashes: Redis holds neither
 * the nonce nor the email.
 */
export class RecoveryChallenges {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = RECOVERY_CHALLENGE_TTL_SECONDS,
  ) {}

  private key(nonce: Uint8Array): string {
    return `${this.prefix}:recovery-nonce:${digest(nonce)}`;
  }

  /** A fresh nonce for `email`, whether or not it has an account (the answer looks the same). */
  async issue(email: string): Promise<{ nonce: Uint8Array; expiresAt: Date }> {
    const nonce = new Uint8Array(randomBytes(RECOVERY_NONCE_BYTES));
    try {
      await this.redis.set(this.key(nonce), digest(email), 'EX', this.ttlSeconds);
    } catch {
      throw new ServiceUnavailableError('Recovery is unavailable; try again shortly.');
    }
    return { nonce, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000) };
  }

  /** True once for a live nonce issued for `email`; false ever after, and for anything else. */
  async consume(nonce: Uint8Array, email: string): Promise<boolean> {
    let bound: string | null;
    try {
      bound = await this.redis.getdel(this.key(nonce));
    } catch {
      throw new ServiceUnavailableError('Recovery is unavailable; try again shortly.');
    }
    return bound === digest(email);
  }
}
