/** Auth wire types shared by the server and the browser-safe SDK (types only). */

/** An agent token as listed to its owner: never the token itself. */
export interface AgentTokenView {
  id: string;
  agentName: string;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/** An account as the API shows it to its owner. */
export interface PublicUser {
  id: string;
  email: string;
  displayName: string | null;
  encryptionEnabled: boolean;
  createdAt: string;
}

/** A session as issued by register, login and passphrase change (the token is shown only here). */
export interface IssuedSession {
  token: string;
  csrfToken: string;
  sessionId: string;
  purpose: 'login' | 'recovery';
  expiresAt: string;
}

/** `POST /api/auth/register` and `/api/auth/login`. */
export interface AuthAnswer {
  user: PublicUser;
  session: IssuedSession;
}

/** `POST /api/keys/recover/challenge`. */
export interface RecoveryChallengeAnswer {
  /** 32 bytes, base64; single use, bound to the email it was asked for. */
  nonce: string;
  expiresAt: string;
}

/** `POST /api/keys/recover`. */
export interface RecoverAnswer {
  userId: string;
  /** base64 envelope of MK under the recovery key. */
  recoveryWrappedMasterKey: string;
  session: IssuedSession;
}
