import { timingSafeEqual } from 'node:crypto';
import {
  assertIdentityPublic,
  fingerprint,
  type IdentityPublicJson,
  identityPublicFromJson,
  identityPublicToJson,
} from '../crypto/identity.ts';
import type { KdfParamsJson } from '../crypto/passphrase.ts';
import { recoveryVerifierOfProof } from '../crypto/recovery.ts';
import { withTransaction } from '../db/pool.ts';
import {
  AppError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
} from '../errors.ts';
import { AuthRepository } from './auth.repository.ts';
import {
  type AuthService,
  InvalidCredentialsError,
  type IssuedSession,
  type RequestMeta,
} from './auth.service.ts';
import type { SessionAuth } from './middleware.ts';
import { hashAuthKey, verifyAuthKey } from './tokens.ts';

export interface SetupInput {
  masterKeyEncrypted: Uint8Array;
  recoveryWrappedMasterKey: Uint8Array;
  recoveryVerifier: string;
  identityPublic: IdentityPublicJson;
  identityWrapped: Uint8Array;
}

export interface MyKeys {
  kdf: KdfParamsJson;
  masterKeyEncrypted: Uint8Array;
  identityWrapped: Uint8Array;
  identityPublic: IdentityPublicJson;
}

export class InvalidRecoveryError extends AppError {
  constructor() {
    super(401, 'invalid-recovery', 'Recovery refused', 'The email or recovery phrase is wrong.');
  }
}

/**
 * E2E setup, key retrieval, recovery and passphrase change. The server stores only envelopes it
 * cannot open; it checks their sizes and the identity binding signature so that nobody can
 * register a public key they do not hold the signing key for.
 */
export class KeysService {
  private readonly repo: AuthRepository;

  constructor(private readonly auth: AuthService) {
    this.repo = auth.repo;
  }

  async setup(userId: string, input: SetupInput): Promise<void> {
    let identity: ReturnType<typeof identityPublicFromJson>;
    try {
      identity = identityPublicFromJson(input.identityPublic);
      await assertIdentityPublic(identity);
    } catch (err) {
      throw new BadRequestError(`identity.public is invalid: ${(err as Error).message}`);
    }
    if (identity.userId !== userId) {
      throw new BadRequestError('identity.public is bound to another user id.');
    }
    await withTransaction(this.auth.pool, async (client) => {
      const repo = new AuthRepository(client);
      const done = await repo.setupEncryption({
        userId,
        masterKeyEncrypted: input.masterKeyEncrypted,
        verifier: input.recoveryVerifier,
        identityPublic: identityPublicToJson(identity),
        signingKey: identity.ed25519PublicKey,
      });
      if (!done)
        throw new ConflictError('already-set-up', 'End-to-end encryption is already set up.');
      await repo.insertKey(userId, 'master', input.recoveryWrappedMasterKey, {
        wrappedUnder: 'recovery',
        v: 1,
      });
      await repo.insertKey(userId, 'identity', input.identityWrapped, {
        wrappedUnder: 'master',
        v: 1,
      });
    });
  }

  async mine(userId: string): Promise<MyKeys> {
    const user = await this.repo.userById(userId);
    const identity = await this.repo.liveKey(userId, 'identity');
    if (
      !user?.encryption_enabled ||
      !user.master_key_encrypted ||
      !user.identity_public ||
      !identity
    ) {
      throw new NotFoundError('End-to-end encryption is not set up for this account yet.');
    }
    return {
      kdf: user.key_derivation_params!,
      masterKeyEncrypted: user.master_key_encrypted,
      identityWrapped: identity.encrypted_key,
      identityPublic: user.identity_public,
    };
  }

  async publicKeys(
    userId: string,
  ): Promise<{ userId: string; identity: IdentityPublicJson; fingerprint: string }> {
    const user = await this.repo.userById(userId);
    if (!user?.identity_public) throw new NotFoundError();
    const identity = identityPublicFromJson(user.identity_public);
    return { userId, identity: user.identity_public, fingerprint: await fingerprint(identity) };
  }

  /**
   * Step one of recovery: proof of the phrase → the recovery-wrapped MK and a 15-minute session
   * that can only set a new passphrase.
   */
  async recover(email: string, proof: Uint8Array, meta: RequestMeta) {
    await this.auth.rateLimits.consume('recover', this.auth.limits.recoverIp, [`ip:${meta.ip}`]);
    await this.auth.rateLimits.consume('recover-email', this.auth.limits.recoverEmail, [
      `email:${email}`,
    ]);
    const user = await this.repo.userByEmail(email);
    const actual = Buffer.from(await recoveryVerifierOfProof(proof), 'hex');
    const expected = Buffer.from(user?.backup_phrase_hash ?? '0'.repeat(64), 'hex');
    const ok = expected.length === 32 && timingSafeEqual(actual, expected);
    if (!user?.encryption_enabled || !ok) throw new InvalidRecoveryError();
    const wrap = await this.repo.liveKey(user.id, 'master');
    if (!wrap) throw new InvalidRecoveryError();
    const session = await this.auth.issueSession(user.id, 'recovery', meta);
    return { userId: user.id, recoveryWrappedMasterKey: wrap.encrypted_key, session };
  }

  /**
   * Sets a new passphrase: new KDF params, new authKey hash, MK re-wrapped under the new kek.
   * A login session must also prove the current passphrase (a stolen session alone cannot lock
   * the owner out); a recovery session has already proven the phrase. Every session of the user
   * is revoked and a fresh login session returned.
   */
  async changePassphrase(
    who: SessionAuth,
    input: {
      kdf: KdfParamsJson;
      authKey: Uint8Array;
      masterKeyEncrypted: Uint8Array;
      currentAuthKey?: Uint8Array;
    },
    meta: RequestMeta,
  ): Promise<IssuedSession> {
    const kdf = this.auth.checkKdf(input.kdf);
    const user = await this.repo.userById(who.userId);
    if (!user?.encryption_enabled)
      throw new ConflictError('not-set-up', 'Set up encryption first.');
    if (who.purpose === 'login') {
      if (!input.currentAuthKey)
        throw new ForbiddenError('currentAuthKey is required to change the passphrase.');
      if (!user.auth_key_hash || !(await verifyAuthKey(input.currentAuthKey, user.auth_key_hash))) {
        throw new InvalidCredentialsError();
      }
    }
    const hash = await hashAuthKey(input.authKey);
    await withTransaction(this.auth.pool, async (client) => {
      const repo = new AuthRepository(client);
      await repo.changePassphrase(who.userId, hash, kdf, input.masterKeyEncrypted);
      await repo.revokeUserSessions(who.userId);
    });
    await this.auth.sessionsRevoked({ userId: who.userId });
    return this.auth.issueSession(who.userId, 'login', meta);
  }
}
