import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe(loadConfig.name, () => {
  it('uses embedded defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3000);
    expect(config.db.url).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
    expect(config.dataDir).toBe(path.resolve('.vutler'));
    expect(config.storage.dir).toBe(path.resolve('.vutler/blobs'));
  });

  it('allows weak KDF costs outside production only, and never when production asks for them', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).auth.allowWeakKdf).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).auth.allowWeakKdf).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test', VUTLER_KDF_ALLOW_WEAK: 'false' }).auth.allowWeakKdf).toBe(
      false,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', VUTLER_KDF_ALLOW_WEAK: 'true' })).toThrow(
      /VUTLER_KDF_ALLOW_WEAK cannot be true in production/,
    );
  });

  it('waits up to 1 s for revocation confirmations unless told otherwise (0: not at all)', () => {
    expect(loadConfig({}).auth.revocationAckMs).toBe(1_000);
    expect(loadConfig({ VUTLER_REVOCATION_ACK_MS: '0' }).auth.revocationAckMs).toBe(0);
    expect(() => loadConfig({ VUTLER_REVOCATION_ACK_MS: '30001' })).toThrow(
      /VUTLER_REVOCATION_ACK_MS/,
    );
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL: '' }).db.url).toBeUndefined();
  });

  it('rejects a malformed DATABASE_URL with one line naming the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'localhost:5432/vutler' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u@h/db' })).toThrow(
      /^Invalid configuration: DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/,
    );
  });

  it('never echoes the rejected value, which may hold a password', () => {
    try {
      loadConfig({ DATABASE_URL: 'http://user:s3cret-pw@host/db' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret-pw');
      expect((err as Error).message.split('\n')).toHaveLength(1);
    }
  });

  it('accepts postgres and postgresql URLs', () => {
    expect(loadConfig({ DATABASE_URL: 'postgresql://u:p@db:5432/v' }).db.url).toBe(
      'postgresql://u:p@db:5432/v',
    );
  });

  it.each([
    ['PORT', 'abc', /PORT must be a port number/],
    ['PORT', '70000', /PORT must be a port number/],
    ['REDIS_URL', '127.0.0.1:6379', /REDIS_URL must be a redis:\/\//],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    ['VUTLER_BODY_LIMIT_BYTES', '-5', /VUTLER_BODY_LIMIT_BYTES must be a positive whole number/],
  ])('rejects %s=%s', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
