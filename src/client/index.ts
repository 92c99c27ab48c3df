/**
 * `VutlerClient`: the people-side flows (register, E2E setup, login on a new device, recovery,
 * passphrase change, agent tokens) for the web app, the CLI and the tests. Runs in the browser
 * and in Node: only `fetch` and `src/crypto`. The passphrase and recovery phrase never leave it;
 * the server receives the derived authKey, a signature over a one-time recovery challenge, and
 * envelopes it cannot open.
 */
import type {
  AgentTokenView,
  AuthAnswer,
  IssuedSession,
  PublicUser,
  RecoverAnswer,
  RecoveryChallengeAnswer,
} from '../auth/types.ts';
import { base64Decode, base64Encode } from '../crypto/bytes.ts';
import { isCryptoError } from '../crypto/errors.ts';
import {
  assertIdentityPublic,
  createIdentity,
  type IdentityKeys,
  type IdentityPublic,
  type IdentityPublicJson,
  identityPublicFromJson,
  identityPublicToJson,
  unwrapIdentity,
} from '../crypto/identity.ts';
import { createMasterKey, rewrapMasterKey, unwrapMasterKey } from '../crypto/masterkey.ts';
import {
  checkKdfParams,
  derivePassphraseKeys,
  type KdfParams,
  type KdfParamsJson,
  kdfParamsFromJson,
  kdfParamsToJson,
  newKdfParams,
} from '../crypto/passphrase.ts';
import {
  confirmRecoveryWords,
  deriveRecoverySecrets,
  generateRecoveryPhrase,
  pickConfirmationPositions,
  RECOVERY_NONCE_BYTES,
  signRecoveryChallenge,
} from '../crypto/recovery.ts';
import { AgentsClient } from './agents.ts';
import { AuditClient } from './audit.ts';
import { ChatsClient } from './chat.ts';
import type { ClientContext, Me } from './context.ts';
import { DriveClient } from './drive.ts';
import { GithubClient } from './github.ts';
import { type FetchLike, Http, VutlerApiError, VutlerClientError } from './http.ts';
import { DeviceState, type KeyStore, MemoryKeyStore } from './keystore.ts';
import { IndexedDbKeyStore } from './keystore-idb.ts';
import {
  type LiveOptions,
  type LiveSubscription,
  openLive,
  type WebSocketConstructor,
} from './live.ts';
import { MemoryClient } from './memory.ts';
import { ConnectedClientsClient } from './oauth.ts';
import { fetchPublicIdentity, IdentityChangedError, TrustClient } from './trust.ts';

export type {
  AuditEntryView,
  GatewayPinStore,
  GrantView,
  PermissionView,
  PinnedGateway,
} from './agents.ts';
export { AgentsClient, deviceGatewayPins } from './agents.ts';
export type { ExportVerdict } from './audit.ts';
export { AuditClient } from './audit.ts';
export type { Chat, ChatMessage, MessageView, OutgoingMessage, SendOptions } from './chat.ts';
export type { DriveFile, OpenedShare, UploadOptions, UploadSource } from './drive.ts';
export {
  DriveClient,
  makePreview,
  readAllBytes,
  textPreview,
  UploadInterruptedError,
} from './drive.ts';
export type {
  ConnectRepoInput,
  DeploymentView,
  IntegrationView,
  NewIntegration,
  RepoView,
} from './github.ts';
export { GithubClient } from './github.ts';
export type { IdentityPin, Json, KeyStore } from './keystore.ts';
export type { LiveEvent, LiveOptions, LiveSubscription } from './live.ts';
export type { Memory, MemoryGrantView } from './memory.ts';
export { MemoryClient } from './memory.ts';
export { ConnectedClientsClient, type ConnectedClientView } from './oauth.ts';
export type { IdentityStatus } from './trust.ts';
export type { MessageStatus, SequenceStatus } from './types.ts';
export {
  ChatsClient,
  DeviceState,
  IdentityChangedError,
  IndexedDbKeyStore,
  MemoryKeyStore,
  TrustClient,
  VutlerApiError,
  VutlerClientError,
};

export interface ClientOptions {
  baseUrl: string;
  fetch?: FetchLike;
  /**
   * Sends requests whose body is bytes (file chunk uploads); default `fetch`. On Node pass
   * `nodeUploadFetch()` (src/client/transport-node.ts): Node's fetch spends several times the
   * CPU of the encryption on copying each chunk.
   */
  uploadFetch?: FetchLike;
  /**
   * Argon2id cost for new passphrases: default m=64 MiB, t=3, p=1. A production server accepts
   * only the rungs of `KDF_COST_LADDER` (64, 128 or 256 MiB, t=3, p=1).
   */
  kdfCost?: { memoryKiB: number; iterations: number; parallelism: number };
  /** Accept Argon2id costs below the default (tests only: a server could otherwise weaken them). */
  allowWeakKdf?: boolean;
  /** For `live()` outside browsers: e.g. the `ws` package's WebSocket on Node 20. */
  WebSocket?: WebSocketConstructor;
  /**
   * This device's key store (pins, log heads, chain positions). Default: in memory, i.e. the
   * device forgets everything when the client goes away — use `FileKeyStore` (Node) or
   * `IndexedDbKeyStore` (browser) for a real device.
   */
  keyStore?: KeyStore;
  /**
   * Browser pages: authenticate with the HttpOnly session cookie the server sets, plus the CSRF
   * token, and keep no bearer token in memory.
   */
  cookieSession?: boolean;
  /** Runs the Argon2id derivation elsewhere (the web app: in a Web Worker); same contract. */
  derivePassphraseKeys?: typeof derivePassphraseKeys;
}

export type User = PublicUser;
export type Session = IssuedSession;

export interface PendingSetup {
  /** Show once; the user writes it down. */
  phrase: string;
  /** 0-based positions of the words the user must type back. */
  positions: number[];
  /** Checks the words, then uploads the envelopes and enables encryption. */
  complete: (answers: { position: number; word: string }[]) => Promise<void>;
}

export type AgentToken = AgentTokenView;

interface MyKeysResponse {
  kdf: KdfParamsJson;
  masterKeyEncrypted: string;
  identity: { public: IdentityPublicJson; wrappedPrivateKeys: string };
}

export class VutlerClient implements ClientContext {
  readonly http: Http;
  readonly keyStore: KeyStore;
  /** Pinned identities, safety numbers and verification. */
  readonly trust: TrustClient;
  private deviceState: DeviceState | undefined;
  user: User | undefined;
  session: Session | undefined;
  /** Non-extractable; present once encryption is set up or unlocked on this device. */
  masterKey: CryptoKey | undefined;
  identity: IdentityKeys | undefined;
  identityPublic: IdentityPublic | undefined;
  private kek: CryptoKey | undefined;
  private kdf: KdfParams | undefined;
  /** Chats: create, members, rotation, send, history (decrypted and verified). */
  readonly chats: ChatsClient;
  /** Agents: the pinned gateway key, permissions, grants, audit log. */
  readonly agents: AgentsClient;
  /** Agent memory: grant it, read, correct and delete what agents remembered. */
  readonly memory: MemoryClient;
  /** The audit log's NDJSON export, verified against the pinned gateway key. */
  readonly audit: AuditClient;
  /** Files: encrypted upload/resume, list, download, delete, shares into chats, previews. */
  readonly drive: DriveClient;
  /** MCP clients connected by OAuth consent. */
  readonly connectedClients: ConnectedClientsClient;
  /** The GitHub connector: accounts, repositories, deploys, rollback. */
  readonly github: GithubClient;

  constructor(private readonly opts: ClientOptions) {
    const fetchImpl: FetchLike = opts.fetch ?? ((input, init) => fetch(input, init));
    this.http = new Http(
      opts.baseUrl,
      fetchImpl,
      opts.cookieSession === true,
      opts.uploadFetch ?? fetchImpl,
    );
    this.keyStore = opts.keyStore ?? new MemoryKeyStore();
    this.trust = new TrustClient(this);
    this.chats = new ChatsClient(this, this.trust);
    this.agents = new AgentsClient(this);
    this.connectedClients = new ConnectedClientsClient(this);
    this.github = new GithubClient(this);
    this.memory = new MemoryClient(this, () => this.agents.gateway());
    this.audit = new AuditClient(this.http, () => this.agents.gateway());
    this.drive = new DriveClient(this.http, this.chats, this.trust, () => {
      const me = this.unlocked();
      if (!this.masterKey)
        throw new VutlerClientError('locked', 'Log in and unlock encryption first.');
      return {
        userId: me.id,
        masterKey: this.masterKey,
        signingKey: me.identity.ed25519.privateKey,
      };
    });
  }

  /** ClientContext: the unlocked account. */
  unlocked(): Me {
    const user = this.user;
    if (!user || !this.identity || !this.identityPublic)
      throw new VutlerClientError('locked', 'Log in and unlock encryption first.');
    return { id: user.id, identity: this.identity, identityPublic: this.identityPublic };
  }

  /** ClientContext: this device's state for the logged-in account. */
  device(): DeviceState {
    const user = this.user;
    if (!user) throw new VutlerClientError('not-logged-in', 'Log in first.');
    if (this.deviceState?.owner !== user.id)
      this.deviceState = new DeviceState(this.keyStore, user.id);
    return this.deviceState;
  }

  /** Opens the live event stream (WebSocket `/ws`); resolves once the server said ready. */
  live(opts: LiveOptions): Promise<LiveSubscription> {
    if (!this.session) throw new VutlerClientError('not-logged-in', 'Log in first.');
    const Impl =
      this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl)
      throw new VutlerClientError(
        'no-websocket',
        'Pass a WebSocket implementation in the options.',
      );
    const url = new URL('/ws', this.opts.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    // In cookie mode the upgrade carries the cookie and hello names no token.
    const token = this.opts.cookieSession ? undefined : this.session.token;
    return openLive(url.toString(), token, this.chats, Impl, opts);
  }

  private derive(passphrase: string, params: KdfParams) {
    const derive = this.opts.derivePassphraseKeys ?? derivePassphraseKeys;
    return derive(passphrase, params, {
      allowWeakParams: this.opts.allowWeakKdf === true,
    });
  }

  /**
   * KDF params as the server states them, refused (before any Argon2 run, before any authKey is
   * sent) when weaker than the default: a lying server would otherwise get an authKey that is
   * cheap to brute-force offline.
   */
  private serverKdf(json: KdfParamsJson): KdfParams {
    let params: KdfParams;
    try {
      params = kdfParamsFromJson(json);
      checkKdfParams(params, { allowWeak: this.opts.allowWeakKdf === true });
    } catch (err) {
      if (isCryptoError(err)) {
        throw new VutlerClientError(
          'kdf-too-weak',
          `The server asked for key-derivation parameters this client refuses: ${err.message}.`,
        );
      }
      throw err;
    }
    return params;
  }

  private freshKdf(): KdfParams {
    return newKdfParams(this.opts.kdfCost);
  }

  private adopt(session: Session, user?: User) {
    if (this.opts.cookieSession) {
      this.session = { ...session, token: '' };
      this.http.csrfToken = session.csrfToken;
    } else {
      this.session = session;
      this.http.token = session.token;
    }
    if (user) this.user = user;
  }

  private requireUser(): User {
    if (!this.user || !this.session) throw new VutlerClientError('not-logged-in', 'Log in first.');
    return this.user;
  }

  /** Creates the account and logs in. Encryption is set up next, with `beginEncryptionSetup`. */
  async register(input: {
    email: string;
    passphrase: string;
    displayName?: string;
  }): Promise<User> {
    const kdf = this.freshKdf();
    const { authKey, kek } = await this.derive(input.passphrase, kdf);
    const res = await this.http.request<AuthAnswer>('/api/auth/register', {
      body: {
        email: input.email,
        displayName: input.displayName,
        kdf: kdfParamsToJson(kdf),
        authKey: base64Encode(authKey),
      },
    });
    authKey.fill(0);
    this.kek = kek;
    this.kdf = kdf;
    this.adopt(res.session, res.user);
    return res.user;
  }

  /**
   * Generates MK, the recovery phrase and the identity keys. Nothing is uploaded until the user
   * has typed back the words at `positions` (DESIGN §4: the phrase is shown once and confirmed).
   */
  async beginEncryptionSetup(confirmWords = 3): Promise<PendingSetup> {
    const user = this.requireUser();
    if (!this.kek)
      throw new VutlerClientError('no-passphrase-key', 'Register or log in on this device first.');
    const phrase = generateRecoveryPhrase();
    const recovery = await deriveRecoverySecrets(phrase);
    const mk = await createMasterKey({ kek: this.kek, recoveryKey: recovery.recoveryKey });
    const identity = await createIdentity(mk.masterKey, user.id);
    const positions = pickConfirmationPositions(confirmWords);
    return {
      phrase,
      positions,
      complete: async (answers) => {
        const covered = positions.every((p) => answers.some((a) => a.position === p));
        if (!covered || !confirmRecoveryWords(phrase, answers)) {
          throw new VutlerClientError(
            'words-mismatch',
            'The words do not match the recovery phrase.',
          );
        }
        await this.http.request('/api/keys/setup', {
          method: 'PUT',
          body: {
            masterKeyEncrypted: base64Encode(mk.wrappedForPassphrase),
            recoveryWrappedMasterKey: base64Encode(mk.wrappedForRecovery),
            recoveryPublicKey: base64Encode(recovery.publicKey),
            identity: {
              public: identityPublicToJson(identity.publicIdentity),
              wrappedPrivateKeys: base64Encode(identity.wrappedPrivate),
            },
          },
        });
        this.masterKey = mk.masterKey;
        this.identity = identity.keys;
        this.identityPublic = identity.publicIdentity;
        this.user = { ...user, encryptionEnabled: true };
        await this.trust.pinSelf();
      },
    };
  }

  /** Register, then set up encryption answering the confirmation itself. Returns the phrase to show. */
  async registerWithEncryption(input: { email: string; passphrase: string; displayName?: string }) {
    const user = await this.register(input);
    const setup = await this.beginEncryptionSetup();
    const words = setup.phrase.split(' ');
    await setup.complete(
      setup.positions.map((position) => ({ position, word: words[position] ?? '' })),
    );
    return { user: { ...user, encryptionEnabled: true }, phrase: setup.phrase };
  }

  /** Logs in on any device: re-derives the keys from the passphrase and unlocks MK and identity. */
  async login(input: { email: string; passphrase: string }): Promise<User> {
    const params = await this.http.request<{ kdf: KdfParamsJson }>('/api/auth/params', {
      query: { email: input.email },
    });
    const kdf = this.serverKdf(params.kdf);
    const { authKey, kek } = await this.derive(input.passphrase, kdf);
    const res = await this.http.request<AuthAnswer>('/api/auth/login', {
      body: { email: input.email, authKey: base64Encode(authKey) },
    });
    authKey.fill(0);
    this.kek = kek;
    this.kdf = kdf;
    this.adopt(res.session, res.user);
    if (res.user.encryptionEnabled) await this.unlock();
    return res.user;
  }

  /**
   * After a page reload: the cookie session survives, the keys in memory do not. Re-derives them
   * from the passphrase and opens the envelopes, without a new login or session.
   */
  async unlockSession(passphrase: string): Promise<User> {
    const me = await this.http.request<{ user: User; csrfToken: string }>('/api/me');
    this.user = me.user;
    this.http.csrfToken = me.csrfToken;
    this.session ??= {
      token: this.http.token ?? '',
      csrfToken: me.csrfToken,
      sessionId: '',
      purpose: 'login',
      expiresAt: '',
    };
    if (!me.user.encryptionEnabled)
      throw new VutlerClientError('not-set-up', 'Encryption is not set up yet: sign in again.');
    const keys = await this.http.request<MyKeysResponse>('/api/keys/mine');
    const kdf = kdfParamsFromJson(keys.kdf);
    const { authKey, kek } = await this.derive(passphrase, kdf);
    authKey.fill(0);
    const mk = await unwrapMasterKey(
      kek,
      'passphrase',
      base64Decode(keys.masterKeyEncrypted),
    ).catch((err: unknown) => {
      if (isCryptoError(err, 'decrypt_failed'))
        throw new VutlerClientError('wrong-passphrase', 'Wrong passphrase.');
      throw err;
    });
    this.kek = kek;
    this.kdf = kdf;
    await this.openIdentity(mk, me.user.id, keys);
    return me.user;
  }

  /** Fetches this user's envelopes and opens them with the passphrase key. */
  private async unlock(): Promise<void> {
    const user = this.requireUser();
    if (!this.kek) throw new VutlerClientError('no-passphrase-key', 'Log in first.');
    const keys = await this.http.request<MyKeysResponse>('/api/keys/mine');
    const mk = await unwrapMasterKey(this.kek, 'passphrase', base64Decode(keys.masterKeyEncrypted));
    await this.openIdentity(mk, user.id, keys);
  }

  private async openIdentity(mk: CryptoKey, userId: string, keys: MyKeysResponse): Promise<void> {
    const publicIdentity = identityPublicFromJson(keys.identity.public);
    await assertIdentityPublic(publicIdentity);
    const identity = await unwrapIdentity(
      mk,
      userId,
      base64Decode(keys.identity.wrappedPrivateKeys),
    );
    // The private keys must belong to the public identity the server hands to others.
    if (
      base64Encode(identity.ed25519.publicKey) !== base64Encode(publicIdentity.ed25519PublicKey) ||
      base64Encode(identity.x25519.publicKey) !== base64Encode(publicIdentity.x25519PublicKey)
    ) {
      throw new VutlerClientError(
        'identity-mismatch',
        'The server returned a public identity that is not ours.',
      );
    }
    this.masterKey = mk;
    this.identity = identity;
    this.identityPublic = publicIdentity;
    await this.trust.pinSelf();
  }

  /**
   * Lost passphrase: proves the recovery phrase, opens MK with the recovery key, re-wraps it under
   * a new passphrase. MK is unchanged, so everything it protects still opens.
   */
  async recover(input: { email: string; phrase: string; newPassphrase: string }): Promise<User> {
    const secrets = await deriveRecoverySecrets(input.phrase);
    // Challenge-response: the signature covers a single-use nonce, so a recorded request is useless.
    const challenge = await this.http.request<RecoveryChallengeAnswer>(
      '/api/keys/recover/challenge',
      { body: { email: input.email } },
    );
    const nonce = base64Decode(challenge.nonce, RECOVERY_NONCE_BYTES);
    const signature = await signRecoveryChallenge(secrets.signingKey, input.email, nonce);
    const res = await this.http.request<RecoverAnswer>('/api/keys/recover', {
      body: { email: input.email, nonce: challenge.nonce, signature: base64Encode(signature) },
    });
    const envelope = base64Decode(res.recoveryWrappedMasterKey);
    // Fails here (not after the server accepted a new passphrase) if the envelope is not ours.
    await unwrapMasterKey(secrets.recoveryKey, 'recovery', envelope);
    const kdf = this.freshKdf();
    const { authKey, kek } = await this.derive(input.newPassphrase, kdf);
    const masterKeyEncrypted = await rewrapMasterKey(
      { key: secrets.recoveryKey, kind: 'recovery', envelope },
      { key: kek, kind: 'passphrase' },
    );
    const changed = await this.http.request<{ session: Session }>('/api/keys/passphrase', {
      method: 'PUT',
      token: res.session.token,
      body: {
        kdf: kdfParamsToJson(kdf),
        authKey: base64Encode(authKey),
        masterKeyEncrypted: base64Encode(masterKeyEncrypted),
      },
    });
    authKey.fill(0);
    this.kek = kek;
    this.kdf = kdf;
    this.adopt(changed.session);
    const me = await this.me();
    await this.unlock();
    return me;
  }

  /** Changes the passphrase on a logged-in device; other sessions are signed out. */
  async changePassphrase(input: { current: string; next: string }): Promise<void> {
    this.requireUser();
    const keys = await this.http.request<MyKeysResponse>('/api/keys/mine');
    const currentKdf = this.serverKdf(keys.kdf);
    const current = await this.derive(input.current, currentKdf);
    const kdf = this.freshKdf();
    const next = await this.derive(input.next, kdf);
    const masterKeyEncrypted = await rewrapMasterKey(
      { key: current.kek, kind: 'passphrase', envelope: base64Decode(keys.masterKeyEncrypted) },
      { key: next.kek, kind: 'passphrase' },
    ).catch((err: unknown) => {
      if (isCryptoError(err, 'decrypt_failed')) {
        throw new VutlerClientError('wrong-passphrase', 'The current passphrase is wrong.');
      }
      throw err;
    });
    const changed = await this.http.request<{ session: Session }>('/api/keys/passphrase', {
      method: 'PUT',
      body: {
        kdf: kdfParamsToJson(kdf),
        authKey: base64Encode(next.authKey),
        masterKeyEncrypted: base64Encode(masterKeyEncrypted),
        currentAuthKey: base64Encode(current.authKey),
      },
    });
    current.authKey.fill(0);
    next.authKey.fill(0);
    this.kek = next.kek;
    this.kdf = kdf;
    this.adopt(changed.session);
  }

  async me(): Promise<User> {
    const res = await this.http.request<{ user: User }>('/api/me');
    this.user = res.user;
    return res.user;
  }

  async logout(): Promise<void> {
    await this.http.request('/api/auth/logout', { method: 'POST' });
    this.session = undefined;
    this.http.token = undefined;
    this.http.csrfToken = undefined;
    this.masterKey = undefined;
    this.identity = undefined;
    this.kek = undefined;
    this.kdf = undefined;
    this.chats.forget();
  }

  /**
   * Another user's public identity, verified here: the binding signature must hold and the
   * fingerprint is computed locally, not taken from the server.
   */
  async publicIdentity(userId: string): Promise<{ identity: IdentityPublic; fingerprint: string }> {
    return fetchPublicIdentity(this.http, userId);
  }

  async createAgentToken(input: { agentName: string; expiresInDays?: number; label?: string }) {
    return this.http.request<AgentToken & { token: string }>('/api/agents/tokens', { body: input });
  }

  async listAgentTokens(): Promise<AgentToken[]> {
    return (await this.http.request<{ tokens: AgentToken[] }>('/api/agents/tokens')).tokens;
  }

  async revokeAgentToken(id: string): Promise<void> {
    await this.http.request(`/api/agents/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }
}
