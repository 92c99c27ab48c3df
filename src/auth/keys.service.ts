import {
  assertIdentityPublic,
  fingerprint,
  type IdentityPublicJson,
  identityPublicFromJson,
  identityPublicToJson,
} from '../crypto/identity.ts';
import type { KdfParamsJson } from '../crypto/passphrase.ts';
import { ed25519KeyPairFromSeed } from '../crypto/primitives.ts';
import {
  assertRecoveryPublicKey,
  recoveryVerifierOfPublicKey,
  verifyRecoveryChallenge,
} from '../crypto/recovery.ts';
import {
  AppError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
} from '../errors.ts';
import type { RateLimits } from '../http/rate-limit.ts';
import type { AuthRepository } from './auth.repository.ts';
import { type AuthLimits, InvalidCredentialsError } from './auth.service.ts';
import { accountKdf } from './kdf.ts';
import type { SessionAuth } from './middleware.ts';
import type { RecoveryChallenges } from './recovery-challenges.ts';
import type { IssuedSession, RequestMeta, SessionService } from './session.service.ts';
import { hashAuthKey, verifyAuthKey } from './tokens.ts';

export interface SetupInput {
  masterKeyEncrypted: Uint8Array;
  recoveryWrappedMasterKey: Uint8Array;
  recoveryPublicKey: Uint8Array;
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

export interface KeysServiceDeps {
  users: AuthRepository;
  sessions: SessionService;
  rateLimits: RateLimits;
  challenges: RecoveryChallenges;
  limits: AuthLimits;
  allowWeakKdf: boolean;
}

/**
 * A fixed public key to verify against when the email has no recovery key, so that an unknown
 * email costs the same signature check as a known one. Its seed is public, which is harmless:
 * an answer is refused whenever there is no account with a recovery key, whatever it verifies.
 */
let dummyRecoveryKey: Promise<Uint8Array> | undefined;
function dummyKey(): Promise<Uint8Array> {
  dummyRecoveryKey ??= ed25519KeyPairFromSeed(new Uint8Array(32).fill(0x5a)).then(
    (k) => k.publicRaw,
  );
  return dummyRecoveryKey;
}

/**
 * E2E setup, key retrieval, recovery and passphrase change. The server stores only envelopes it
 * cannot open and public keys; it checks sizes and the identity binding signature so that nobody
 * can register a public key they do not hold the signing key for. Crypto failures surface as
 * `CryptoError`s, which the problem mapper turns into 400/422 by code.
 */
export class KeysService {
  constructor(private readonly deps: KeysServiceDeps) {}

  async setup(userId: string, input: SetupInput): Promise<void> {
    const identity = identityPublicFromJson(input.identityPublic);
    await assertIdentityPublic(identity);
    if (identity.userId !== userId) {
      throw new BadRequestError('identity.public is bound to another user id.');
    }
    await assertRecoveryPublicKey(input.recoveryPublicKey);
    const done = await this.deps.users.setupEncryption({
      userId,
      masterKeyEncrypted: input.masterKeyEncrypted,
      verifier: await recoveryVerifierOfPublicKey(input.recoveryPublicKey),
      recoveryPublicKey: input.recoveryPublicKey,
      identityPublic: identityPublicToJson(identity),
      signingKey: identity.ed25519PublicKey,
      recoveryWrappedMasterKey: input.recoveryWrappedMasterKey,
      identityWrapped: input.identityWrapped,
    });
    if (!done)
      throw new ConflictError('already-set-up', 'End-to-end encryption is already set up.');
  }

  async mine(userId: string): Promise<MyKeys> {
    const user = await this.deps.users.userById(userId);
    const identity = await this.deps.users.liveKey(userId, 'identity');
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
    const user = await this.deps.users.userById(userId);
    if (!user?.identity_public) throw new NotFoundError();
    const identity = identityPublicFromJson(user.identity_public);
    return { userId, identity: user.identity_public, fingerprint: await fingerprint(identity) };
  }

  /** Step one of recovery: a single-use nonce for the email, issued alike for unknown emails. */
  async recoveryChallenge(email: string, meta: RequestMeta) {
    await this.deps.rateLimits.consume('recover-challenge', this.deps.limits.recoverChallengeIp, [
      `ip:${meta.ip}`,
    ]);
    return this.deps.challenges.issue(email);
  }

  /**
   * Step two: the recovery key's signature over (email, nonce) → the recovery-wrapped MK and a
   * 15-minute session that can only set a new passphrase. The nonce is spent whatever the outcome.
   */
  async recover(email: string, nonce: Uint8Array, signature: Uint8Array, meta: RequestMeta) {
    await this.deps.rateLimits.consume('recover', this.deps.limits.recoverIp, [`ip:${meta.ip}`]);
    await this.deps.rateLimits.consume('recover-email', this.deps.limits.recoverEmail, [
      `email:${email}`,
    ]);
    const fresh = await this.deps.challenges.consume(nonce, email);
    const user = await this.deps.users.userByEmail(email);
    const key = user?.recovery_public_key ?? (await dummyKey());
    const signed = await verifyRecoveryChallenge(key, email, nonce, signature);
    const bound =
      !!user?.backup_phrase_hash &&
      user.backup_phrase_hash === (await recoveryVerifierOfPublicKey(key));
    if (!fresh || !signed || !bound || !user?.encryption_enabled || !user.recovery_public_key) {
      throw new InvalidRecoveryError();
    }
    const wrap = await this.deps.users.liveKey(user.id, 'master');
    if (!wrap) throw new InvalidRecoveryError();
    const session = await this.deps.sessions.issue(user.id, 'recovery', meta);
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
    const kdf = accountKdf(input.kdf, { allowWeak: this.deps.allowWeakKdf });
    const user = await this.deps.users.userById(who.userId);
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
    await this.deps.users.changePassphrase(who.userId, hash, kdf, input.masterKeyEncrypted);
    // Announced before the new session exists, so only the old sessions' sockets close.
    await this.deps.sessions.revoked({ userId: who.userId });
    return this.deps.sessions.issue(who.userId, 'login', meta);
  }
}
