import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceState, type KeyStore, MemoryKeyStore } from '../../../src/client/keystore.ts';
import { FileKeyStore } from '../../../src/client/keystore-file.ts';
import { IndexedDbKeyStore } from '../../../src/client/keystore-idb.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir() {
  const d = await mkdtemp(path.join(tmpdir(), 'vutler-keystore-'));
  dirs.push(d);
  return d;
}

type Maker = () => Promise<{ store: KeyStore; reopen: () => Promise<KeyStore> }>;

const implementations: [string, Maker][] = [
  [
    'MemoryKeyStore',
    async () => {
      const store = new MemoryKeyStore();
      return { store, reopen: async () => store };
    },
  ],
  [
    'FileKeyStore',
    async () => {
      const dir = await tempDir();
      return { store: new FileKeyStore(dir), reopen: async () => new FileKeyStore(dir) };
    },
  ],
  [
    'IndexedDbKeyStore',
    async () => {
      const factory = new IDBFactory();
      const name = `ks-${Math.random()}`;
      const store = new IndexedDbKeyStore(name, factory, IDBKeyRange);
      return {
        store,
        reopen: async () => {
          store.close();
          return new IndexedDbKeyStore(name, factory, IDBKeyRange);
        },
      };
    },
  ],
];

describe.each(implementations)('%s', (_name, make) => {
  it('stores JSON values by key, lists by prefix, deletes, and survives reopening', async () => {
    const { store, reopen } = await make();
    expect(await store.get('u1/pin/bob')).toBeUndefined();
    await store.put('u1/pin/bob', { fingerprint: 'ab', verified: false });
    await store.put('u1/pin/carol', { fingerprint: 'cd', verified: true });
    await store.put('u2/pin/bob', { fingerprint: 'ef', verified: false });
    await store.put('u1/chat/x', { epoch: 3, length: 9, head: 'h' });
    expect((await store.keys('u1/pin/')).sort()).toEqual(['u1/pin/bob', 'u1/pin/carol']);
    const again = await reopen();
    expect(await again.get('u1/pin/carol')).toEqual({ fingerprint: 'cd', verified: true });
    await again.put('u1/pin/carol', { fingerprint: 'cd', verified: false });
    expect(await again.get('u1/pin/carol')).toEqual({ fingerprint: 'cd', verified: false });
    await again.delete('u1/pin/carol');
    expect(await again.get('u1/pin/carol')).toBeUndefined();
    expect(await again.keys('u1/')).toHaveLength(2);
  });

  it('hands out copies, so a caller cannot change what is stored through a reference', async () => {
    const { store } = await make();
    const v = { a: [1, 2] };
    await store.put('k', v);
    v.a.push(3);
    const got = (await store.get('k')) as { a: number[] };
    got.a.push(4);
    expect(await store.get('k')).toEqual({ a: [1, 2] });
  });
});

describe(FileKeyStore.name, () => {
  it('writes atomically (no temporary file left) and names files safely for any key', async () => {
    const dir = await tempDir();
    const store = new FileKeyStore(dir);
    const key = '../../etc/passwd\u0000/é';
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(key, { i })));
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]+\.json$/);
    expect(await store.keys('../')).toEqual([key]);
  });
});

describe(DeviceState.name, () => {
  it('keeps each account on the device apart and fills every slot', async () => {
    const store = new MemoryKeyStore();
    const a = new DeviceState(store, 'alice');
    const b = new DeviceState(store, 'bob');
    await a.setPin({
      userId: 'carol',
      fingerprint: '00',
      firstSeen: '2026-01-01T00:00:00Z',
      verified: false,
      source: 'first-use',
    });
    expect(await b.pin('carol')).toBeUndefined();
    expect((await a.pins()).map((p) => p.userId)).toEqual(['carol']);
    await a.setChatHead('c', { epoch: 2, length: 5, head: 'h' });
    expect(await a.chatHead('c')).toEqual({ epoch: 2, length: 5, head: 'h' });
    const id = await a.chainId(() => 'made-once');
    expect(await a.chainId(() => 'made-twice')).toBe(id);
    expect(await b.chainId(() => 'bobs')).toBe('bobs');
    await a.setSendHead('c', { counter: 4, hash: 'x' });
    expect(await a.sendHead('c')).toEqual({ counter: 4, hash: 'x' });
    await a.setSeen('c', { 'bob/xyz': { counter: 1, hash: 'y', seq: 7 } });
    expect(await a.seen('c')).toEqual({ 'bob/xyz': { counter: 1, hash: 'y', seq: 7 } });
    await a.setGatewayKeys({ ed25519: 'k' });
    expect(await a.gatewayKeys()).toEqual({ ed25519: 'k' });
    await a.setKdfParams({ m: 65536 });
    expect(await a.kdfParams()).toEqual({ m: 65536 });
  });
});
