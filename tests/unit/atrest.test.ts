import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtRestError, AtRestKeyring, formatKeyFile, loadAtRestKeyring } from '../../src/atrest.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';

const key = () => new Uint8Array(randomBytes(32));

describe(AtRestKeyring.name, () => {
  it('seals with the newest key and opens with any loaded one', () => {
    const old = { id: 'k1', key: key() };
    const sealedOld = new AtRestKeyring([old]).seal('storage-object', 'file-1', 'object-id');
    const ring = new AtRestKeyring([old, { id: 'k2', key: key() }]);
    expect(ring.open('storage-object', 'file-1', sealedOld)).toBe('object-id');
    const sealedNew = ring.seal('storage-object', 'file-1', 'object-id');
    expect(sealedNew.startsWith('k2.')).toBe(true);
    expect(ring.isStale(sealedOld)).toBe(true);
    expect(ring.isStale(sealedNew)).toBe(false);
    expect(sealedNew).not.toContain('object-id');
  });

  it('binds purpose and context: a value moved to another row or use does not open', () => {
    const ring = new AtRestKeyring([{ id: 'k1', key: key() }]);
    const sealed = ring.seal('storage-object', 'file-1', 'object-id');
    expect(() => ring.open('storage-object', 'file-2', sealed)).toThrow(AtRestError);
    expect(() => ring.open('github-token', 'file-1', sealed)).toThrow(AtRestError);
    expect(() => ring.open('storage-object', 'file-1', `k9.${sealed.slice(3)}`)).toThrow(
      'unknown at-rest key',
    );
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    expect(() => ring.open('storage-object', 'file-1', flipped)).toThrow(AtRestError);
    expect(() => ring.open('storage-object', 'file-1', 'k1.AAAA')).toThrow('truncated');
  });

  it('refuses bad keys and ids', () => {
    expect(() => new AtRestKeyring([])).toThrow();
    expect(() => new AtRestKeyring([{ id: 'k1', key: new Uint8Array(16) }])).toThrow();
    expect(() => new AtRestKeyring([{ id: 'bad id', key: key() }])).toThrow();
    expect(
      () =>
        new AtRestKeyring([
          { id: 'k', key: key() },
          { id: 'k', key: key() },
        ]),
    ).toThrow();
  });
});

describe(loadAtRestKeyring.name, () => {
  it('generates the key file once, mode 0600, and loads the same keys after', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vutler-atrest-'));
    try {
      const config = loadConfig({ VUTLER_DATA_DIR: dir });
      const first = await loadAtRestKeyring(config);
      const file = path.join(dir, 'at-rest.keys');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const sealed = first.seal('p', 'c', 'v');
      const again = await loadAtRestKeyring(config);
      expect(again.open('p', 'c', sealed)).toBe('v');
      // Rotation: a second line becomes the sealing key; the first still opens.
      const text = await readFile(file, 'utf8');
      await writeFile(
        file,
        `${text}${formatKeyFile([{ id: 'k2', key: key() }])
          .split('\n')
          .slice(1)
          .join('\n')}`,
      );
      const rotated = await loadAtRestKeyring(config);
      expect(rotated.currentKeyId).toBe('k2');
      expect(rotated.open('p', 'c', sealed)).toBe('v');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prefers VUTLER_AT_REST_KEYS, newest last', async () => {
    const a = Buffer.from(key()).toString('base64');
    const b = Buffer.from(key()).toString('base64');
    const ring = await loadAtRestKeyring(loadConfig({ VUTLER_AT_REST_KEYS: `old:${a}, new:${b}` }));
    expect(ring.currentKeyId).toBe('new');
  });
});

describe('the storage configuration group', () => {
  it('defaults to fs storage with a quota and a reap age', () => {
    const c = loadConfig({});
    expect(c.storage).toMatchObject({
      backend: 'fs',
      quotaBytes: 10 * 1024 ** 3,
      reapAfterMs: 24 * 3_600_000,
    });
    expect(c.storage.webdav).toBeUndefined();
  });

  it('reads webdav settings and needs a URL for them', () => {
    const c = loadConfig({
      VUTLER_STORAGE: 'webdav',
      VUTLER_STORAGE_WEBDAV_URL: 'https://nas.local:5006/vutler',
      VUTLER_STORAGE_WEBDAV_USERNAME: 'vutler',
      VUTLER_STORAGE_WEBDAV_PASSWORD: 'pw',
    });
    expect(c.storage.webdav).toEqual({
      url: 'https://nas.local:5006/vutler',
      username: 'vutler',
      password: 'pw',
    });
    expect(() => loadConfig({ VUTLER_STORAGE: 'webdav' })).toThrow(
      /VUTLER_STORAGE_WEBDAV_URL is required/,
    );
    expect(() => loadConfig({ VUTLER_STORAGE: 's3' })).toThrow(ConfigError);
    expect(() => loadConfig({ VUTLER_STORAGE_WEBDAV_URL: 'ftp://nas' })).toThrow(
      /VUTLER_STORAGE_WEBDAV_URL/,
    );
  });

  it('rejects malformed at-rest keys without echoing them', () => {
    try {
      loadConfig({ VUTLER_AT_REST_KEYS: 'k1:c2VjcmV0' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/^Invalid configuration: VUTLER_AT_REST_KEYS/);
      expect((err as Error).message).not.toContain('c2VjcmV0');
    }
  });
});
