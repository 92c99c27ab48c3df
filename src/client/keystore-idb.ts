/**
 * A `KeyStore` in IndexedDB, for the browser: one object store of JSON values by string key.
 * Each call is its own transaction; `put` resolves when the transaction completes (durable).
 */
import type { Json, KeyStore } from './keystore.ts';

const STORE = 'kv';

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export class IndexedDbKeyStore implements KeyStore {
  private db: Promise<IDBDatabase> | undefined;

  /** `factory`/`keyRange` default to the globals (tests pass `fake-indexeddb`'s). */
  constructor(
    private readonly name = 'vutler-keystore',
    private readonly factory: IDBFactory = globalThis.indexedDB,
    private readonly keyRange: typeof IDBKeyRange = globalThis.IDBKeyRange,
  ) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = this.factory.open(this.name, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  async get(key: string): Promise<Json | undefined> {
    const db = await this.open();
    const v = await done(db.transaction(STORE, 'readonly').objectStore(STORE).get(key));
    return v === undefined ? undefined : (JSON.parse(v as string) as Json);
  }

  async put(key: string, value: Json): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(JSON.stringify(value), key);
    await committed(tx);
  }

  async delete(key: string): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).delete(key);
    await committed(tx);
  }

  async keys(prefix: string): Promise<string[]> {
    const db = await this.open();
    const range = this.keyRange.bound(prefix, `${prefix}\uffff`);
    const keys = await done(db.transaction(STORE, 'readonly').objectStore(STORE).getAllKeys(range));
    return keys.map(String);
  }

  close(): void {
    void this.db?.then((db) => db.close());
    this.db = undefined;
  }
}
