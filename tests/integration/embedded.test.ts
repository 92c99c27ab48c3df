import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedError, freePort, startEmbeddedRedis } from '../../src/embedded.ts';
import { silentLogger } from '../helpers/app.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';

describe(startEmbeddedRedis.name, () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'vutler-redis-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('uses the default Redis when it answers, and starts nothing', async () => {
    const r = await startEmbeddedRedis(await tmp(), silentLogger, TEST_REDIS_URL);
    expect(r.url).toBe(TEST_REDIS_URL);
    await r.stop();
  });

  it('starts redis-server from PATH on a free port when nothing answers, with noeviction', async () => {
    const nothing = `redis://127.0.0.1:${await freePort()}`;
    const r = await startEmbeddedRedis(await tmp(), silentLogger, nothing);
    expect(r.url).not.toBe(nothing);
    const client = new Redis(r.url);
    try {
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'maxmemory-policy')).toEqual([
        'maxmemory-policy',
        'noeviction',
      ]);
    } finally {
      client.disconnect();
      await r.stop();
    }
    const gone = new Redis(r.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    gone.on('error', () => undefined);
    await expect(gone.connect()).rejects.toThrow();
  });

  it('fails with one line saying what to install when there is no redis-server either', async () => {
    const nothing = `redis://127.0.0.1:${await freePort()}`;
    const savedPath = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await startEmbeddedRedis(await tmp(), silentLogger, nothing).catch((e) => e);
      expect(err).toBeInstanceOf(EmbeddedError);
      expect(err.message).toMatch(/install Redis .* or set REDIS_URL/);
      expect(err.message.split('\n')).toHaveLength(1);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
