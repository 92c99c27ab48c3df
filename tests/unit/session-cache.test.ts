import { describe, expect, it } from 'vitest';
import type { SessionRow } from '../../src/auth/session.repository.ts';
import { SessionCache } from '../../src/auth/session-cache.ts';

const HOUR = 3_600_000;

function row(id: string, userId: string, expiresAt: number): SessionRow {
  return {
    id,
    user_id: userId,
    purpose: 'login',
    expires_at: new Date(expiresAt),
    last_seen_at: new Date(0),
  };
}

function cache(ttlMs = 5_000, maxEntries = 100) {
  let t = 1_000_000;
  const c = new SessionCache({ ttlMs, maxEntries, now: () => t });
  return { c, advance: (ms: number) => (t += ms), now: () => t };
}

describe(SessionCache.name, () => {
  it('remembers nothing until the revocation channel is up', () => {
    const { c, now } = cache();
    c.remember('h1', row('s1', 'u1', now() + HOUR), c.generation());
    expect(c.get('h1')).toBeUndefined();
    c.channelUp();
    c.remember('h1', row('s1', 'u1', now() + HOUR), c.generation());
    expect(c.get('h1')?.id).toBe('s1');
  });

  it('does not store a lookup that began before a revocation (it may have read the row before the revoke committed)', () => {
    const { c, now } = cache();
    c.channelUp();
    const before = c.generation();
    c.forget({ sessionIds: ['s-other'] });
    c.remember('h1', row('s1', 'u1', now() + HOUR), before);
    expect(c.get('h1')).toBeUndefined();
  });

  it('does not store a lookup that began before the channel dropped and came back', () => {
    const { c, now } = cache();
    c.channelUp();
    const before = c.generation();
    c.channelDown();
    c.channelUp();
    c.remember('h1', row('s1', 'u1', now() + HOUR), before);
    expect(c.get('h1')).toBeUndefined();
  });

  it('forgets by session id and by user, leaving the others', () => {
    const { c, now } = cache();
    c.channelUp();
    const g = c.generation();
    c.remember('a', row('s1', 'u1', now() + HOUR), g);
    c.remember('b', row('s2', 'u1', now() + HOUR), g);
    c.remember('c', row('s3', 'u2', now() + HOUR), g);
    c.forget({ sessionIds: ['s1'] });
    expect(c.get('a')).toBeUndefined();
    expect(c.get('b')?.id).toBe('s2');
    c.forget({ userId: 'u1' });
    expect(c.get('b')).toBeUndefined();
    expect(c.get('c')?.id).toBe('s3');
  });

  it('empties and turns off when the channel drops', () => {
    const { c, now } = cache();
    c.channelUp();
    c.remember('a', row('s1', 'u1', now() + HOUR), c.generation());
    c.channelDown();
    expect(c.enabled).toBe(false);
    expect(c.size).toBe(0);
    c.channelUp();
    expect(c.get('a')).toBeUndefined();
  });

  it('never serves a session past its time to live or its expiry', () => {
    const { c, now, advance } = cache(5_000);
    c.channelUp();
    c.remember('a', row('s1', 'u1', now() + HOUR), c.generation());
    c.remember('b', row('s2', 'u1', now() + 1_000), c.generation());
    advance(1_000);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')?.id).toBe('s1');
    advance(4_000);
    expect(c.get('a')).toBeUndefined();
  });

  it('is off with a time to live of 0, and keeps at most maxEntries', () => {
    const off = cache(0).c;
    off.channelUp();
    expect(off.enabled).toBe(false);
    const { c, now } = cache(5_000, 2);
    c.channelUp();
    const g = c.generation();
    c.remember('a', row('s1', 'u1', now() + HOUR), g);
    c.remember('b', row('s2', 'u1', now() + HOUR), g);
    c.remember('c', row('s3', 'u1', now() + HOUR), g);
    expect(c.size).toBe(2);
    expect(c.get('a')).toBeUndefined();
    expect(c.get('c')?.id).toBe('s3');
  });
});
