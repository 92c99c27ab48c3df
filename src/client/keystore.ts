/**
 * The device key store: what this device has learnt and will not let the server overwrite —
 * pinned identity keys, each chat's membership-log head and highest epoch, its own chain heads and
 * the chain positions it has seen from others. One small async key/value interface with three
 * implementations: in memory (default, tests), a directory for Node (`keystore-file.ts`, not
 * imported here so the browser bundle stays free of `node:fs`) and IndexedDB
 * (`keystore-idb.ts`). Values are JSON; nothing secret is stored (public keys' digests,
 * hashes, counters), so the store needs integrity, not confidentiality.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface KeyStore {
  get(key: string): Promise<Json | undefined>;
  /** Durable once the promise resolves (the file store renames a fully written file). */
  put(key: string, value: Json): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, in no particular order. */
  keys(prefix: string): Promise<string[]>;
}

export class MemoryKeyStore implements KeyStore {
  private readonly map = new Map<string, string>();

  async get(key: string): Promise<Json | undefined> {
    const v = this.map.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as Json);
  }

  async put(key: string, value: Json): Promise<void> {
    // Stored serialised so callers cannot mutate what was stored through a kept reference.
    this.map.set(key, JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix));
  }
}

export interface IdentityPin {
  userId: string;
  /** Hex SHA-256 identity digest (see `fingerprintDigest`). */
  fingerprint: string;
  firstSeen: string;
  verified: boolean;
  /** How the pin was made: first use, vouched for by a verified membership log, or our own. */
  source: 'first-use' | 'log' | 'self';
}

export interface ChatHead {
  /** Highest epoch this device accepted for the chat. */
  epoch: number;
  /** Number of membership-log entries verified, and the hash of the last one (base64). */
  length: number;
  head: string;
}

export interface ChainHead {
  counter: number;
  /** Base64 hash of the chain's last message. */
  hash: string;
}

export interface SeenPosition extends ChainHead {
  seq: number;
}

/** Typed slots over a `KeyStore`, namespaced by the account using this device. */
export class DeviceState {
  constructor(
    readonly store: KeyStore,
    readonly owner: string,
  ) {}

  private k(...parts: string[]): string {
    return [this.owner, ...parts].join('/');
  }

  async pin(userId: string): Promise<IdentityPin | undefined> {
    return (await this.store.get(this.k('pin', userId))) as IdentityPin | undefined;
  }

  async setPin(pin: IdentityPin): Promise<void> {
    await this.store.put(this.k('pin', pin.userId), { ...pin });
  }

  async pins(): Promise<IdentityPin[]> {
    const keys = await this.store.keys(this.k('pin', ''));
    const pins = await Promise.all(keys.map((k) => this.store.get(k)));
    return (pins.filter(Boolean) as unknown as IdentityPin[]).sort((a, b) =>
      a.userId.localeCompare(b.userId),
    );
  }

  async chatHead(chatId: string): Promise<ChatHead | undefined> {
    return (await this.store.get(this.k('chat', chatId))) as ChatHead | undefined;
  }

  async setChatHead(chatId: string, head: ChatHead): Promise<void> {
    await this.store.put(this.k('chat', chatId), { ...head });
  }

  /** The verified membership state of a chat (see `membershipStateToJson`). */
  async logState(chatId: string): Promise<Json | undefined> {
    return this.store.get(this.k('log', chatId));
  }

  async setLogState(chatId: string, state: Json): Promise<void> {
    await this.store.put(this.k('log', chatId), state);
  }

  /** Length of the newest log anchor this account published for a chat (see `ChatLogs`). */
  async anchored(chatId: string): Promise<number> {
    const v = await this.store.get(this.k('anchor', chatId));
    return typeof v === 'number' ? v : 0;
  }

  async setAnchored(chatId: string, length: number): Promise<void> {
    await this.store.put(this.k('anchor', chatId), length);
  }

  /** This device's random chain id (base64), made on first use. */
  async chainId(make: () => string): Promise<string> {
    const key = this.k('device', 'chain-id');
    const v = await this.store.get(key);
    if (typeof v === 'string') return v;
    const id = make();
    await this.store.put(key, id);
    return id;
  }

  async sendHead(chatId: string): Promise<ChainHead | undefined> {
    return (await this.store.get(this.k('send', chatId))) as ChainHead | undefined;
  }

  async setSendHead(chatId: string, head: ChainHead): Promise<void> {
    await this.store.put(this.k('send', chatId), { ...head });
  }

  /** Per chat: sender chain key (`senderId/chainIdBase64`) → last position seen. */
  async seen(chatId: string): Promise<Record<string, SeenPosition>> {
    return ((await this.store.get(this.k('seen', chatId))) ?? {}) as unknown as Record<
      string,
      SeenPosition
    >;
  }

  async setSeen(chatId: string, seen: Record<string, SeenPosition>): Promise<void> {
    await this.store.put(this.k('seen', chatId), seen as unknown as Json);
  }

  /** Slot for the gateway's pinned keys (filled by the gateway branch). */
  async gatewayKeys(): Promise<Json | undefined> {
    return this.store.get(this.k('gateway'));
  }

  async setGatewayKeys(value: Json): Promise<void> {
    await this.store.put(this.k('gateway'), value);
  }

  /** Slot for the account's KDF parameters as last used on this device (auth branch). */
  async kdfParams(): Promise<Json | undefined> {
    return this.store.get(this.k('kdf'));
  }

  async setKdfParams(value: Json): Promise<void> {
    await this.store.put(this.k('kdf'), value);
  }
}
