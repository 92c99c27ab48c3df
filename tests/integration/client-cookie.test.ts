import { describe, expect, it } from 'vitest';
import { VutlerClient } from '../../src/client/index.ts';
import { useTestServer } from '../helpers/app.ts';
import { CHEAP_KDF, person } from '../helpers/people.ts';

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** A fetch with a one-cookie jar, as a browser page has: Set-Cookie in, Cookie out. */
function browserLikeFetch(sent: Sent[]) {
  let cookie: string | undefined;
  return async (input: string, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    if (cookie) headers.set('cookie', cookie);
    sent.push({
      method: init?.method ?? 'GET',
      path: new URL(input).pathname,
      headers: Object.fromEntries(headers),
    });
    const res = await fetch(input, { ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      if (pair?.startsWith('vutler_session='))
        cookie = pair === 'vutler_session=' ? undefined : pair;
    }
    return res;
  };
}

describe('VutlerClient in cookie-session mode (the web app)', () => {
  const t = useTestServer();

  it('uploads, downloads and deletes drive files over the cookie (raw chunk PUTs echo CSRF)', async () => {
    const sent: Sent[] = [];
    const alice = new VutlerClient({
      baseUrl: t.server.url,
      fetch: browserLikeFetch(sent),
      cookieSession: true,
      kdfCost: CHEAP_KDF,
      allowWeakKdf: true,
    });
    await alice.registerWithEncryption({
      email: `alice-drive-${Date.now()}@example.com`,
      passphrase: 'alice cookie passphrase',
    });
    const bytes = new Uint8Array(70_000).map((_, i) => i % 251);
    const file = await alice.drive.upload(new Blob([bytes]), { name: 'c.bin', chunkSize: 32_768 });
    expect(file.status).toBe('ready');
    const back = await new Response(await alice.drive.download(file.id)).arrayBuffer();
    expect(new Uint8Array(back)).toEqual(bytes);
    await alice.drive.delete(file.id);
    const puts = sent.filter((r) => r.method === 'PUT' && r.path.includes('/chunks/'));
    expect(puts).toHaveLength(3);
    for (const p of puts) expect(p.headers['x-csrf-token'], p.path).toBeTruthy();
  });

  it('authenticates by the HttpOnly cookie plus CSRF token and keeps no bearer token', async () => {
    const bob = await person(t.server.url, 'bob');
    const sent: Sent[] = [];
    const jar = browserLikeFetch(sent);
    const alice = new VutlerClient({
      baseUrl: t.server.url,
      fetch: jar,
      cookieSession: true,
      kdfCost: CHEAP_KDF,
      allowWeakKdf: true,
    });
    await alice.registerWithEncryption({
      email: `alice-${Date.now()}@example.com`,
      passphrase: 'alice cookie passphrase',
    });
    expect(alice.session?.token).toBe('');
    expect(alice.http.token).toBeUndefined();
    const chat = await alice.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.chats.send(chat.id, 'over the cookie');
    expect((await bob.client.chats.history(chat.id)).map((m) => m.body?.text)).toEqual([
      'over the cookie',
    ]);

    expect(sent.some((r) => 'authorization' in r.headers)).toBe(false);
    const writes = sent.filter((r) => r.method !== 'GET' && r.path !== '/api/auth/register');
    expect(writes.length).toBeGreaterThan(2);
    for (const w of writes) expect(w.headers['x-csrf-token'], w.path).toBeTruthy();

    // A reload: a fresh client on the same cookie jar reopens the keys from the passphrase alone.
    const reloaded = new VutlerClient({
      baseUrl: t.server.url,
      fetch: jar,
      cookieSession: true,
      allowWeakKdf: true,
    });
    await expect(reloaded.unlockSession('not the passphrase')).rejects.toMatchObject({
      code: 'wrong-passphrase',
    });
    const before = sent.length;
    await reloaded.unlockSession('alice cookie passphrase');
    expect(sent.slice(before).map((r) => r.path)).not.toContain('/api/auth/login');
    expect((await reloaded.chats.history(chat.id)).map((m) => m.body?.text)).toEqual([
      'over the cookie',
    ]);

    await alice.logout();
    await expect(alice.chats.list()).rejects.toMatchObject({ status: 401 });
  });
});
