import { beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';
import { closedWithin, helloSocket } from '../helpers/ws.ts';

type Person = Awaited<ReturnType<typeof person>>;

/**
 * Cross-tenant matrix, CSRF on cookie sessions, and revocation taking effect at once.
 * Bob owns a group chat, a message in it and an agent token; Alice (a stranger to all of it)
 * tries every route with Bob's ids.
 */
describe('cross-tenant matrix', () => {
  const ctx = useTestServer();
  let alice: Person;
  let bob: Person;
  let bobChat: string;
  let bobMessage: string;
  let bobTokenId: string;
  let bobCiphertext: string;

  beforeAll(async () => {
    alice = await person(ctx.server.url, 'alice');
    bob = await person(ctx.server.url, 'bob');
    bobChat = (await bob.client.chats.create({ kind: 'group', memberIds: [] })).id;
    bobMessage = (await bob.client.chats.send(bobChat, 'for bob only')).id;
    bobTokenId = (await bob.client.createAgentToken({ agentName: 'bob-agent' })).id;
    const { rows } = await ctx.db.pool.query<{ c: string }>(
      "SELECT encode(encrypted_content, 'base64') AS c FROM messages WHERE id = $1",
      [bobMessage],
    );
    bobCiphertext = rows[0]?.c ?? '';
    expect(bobCiphertext.length).toBeGreaterThan(10);
  });

  it('refuses every route on another user’s chat, message and token, leaking nothing', async () => {
    const as = (method: string, path: string, body?: unknown) =>
      fetch(`${ctx.server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${alice.client.session?.token}`,
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const matrix: Array<[string, string, unknown?]> = [
      ['GET', `/api/chats/${bobChat}`],
      ['GET', `/api/chats/${bobChat}/log`],
      ['GET', `/api/chats/${bobChat}/keys`],
      ['GET', `/api/chats/${bobChat}/messages`],
      ['GET', `/api/chats/${bobChat}/messages?after=0`],
      ['POST', `/api/chats/${bobChat}/members`, { userId: alice.id }],
      ['POST', `/api/chats/${bobChat}/epochs`, {}],
      ['POST', `/api/chats/${bobChat}/messages`, {}],
      ['DELETE', `/api/chats/${bobChat}/messages/${bobMessage}`],
      ['DELETE', `/api/agents/tokens/${bobTokenId}`],
    ];
    for (const [method, path, body] of matrix) {
      const res = await as(method, path, body);
      // The problem's `instance` echoes the caller's own path: only what it did not send counts.
      const text = (await res.text()).split(path.split('?')[0] as string).join('');
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      expect(text, `${method} ${path}`).not.toContain(bobCiphertext);
      expect(text, `${method} ${path}`).not.toContain(bobMessage);
      expect(text, `${method} ${path}`).not.toContain(bobTokenId);
    }
    // Lists are scoped to the caller.
    const chats = await (await as('GET', '/api/chats')).text();
    expect(chats).not.toContain(bobChat);
    const tokens = await (await as('GET', '/api/agents/tokens')).text();
    expect(tokens).not.toContain(bobTokenId);
    // And nothing of Bob's changed: his token and message are still there.
    expect((await bob.client.listAgentTokens()).map((t) => t.id)).toContain(bobTokenId);
    const { rows } = await ctx.db.pool.query('SELECT 1 FROM messages WHERE id = $1', [bobMessage]);
    expect(rows).toHaveLength(1);
  });

  it('refuses a typing frame for another user’s chat over the WebSocket', async () => {
    const s = await helloSocket(ctx.server.wsUrl, alice.client.session?.token as string);
    s.ws.send(JSON.stringify({ type: 'typing', chatId: bobChat }));
    const f = await s.frame((f) => f.type === 'error', 'error frame');
    expect(String(f.message)).toContain('not a member');
    s.ws.close();
  });
});

describe('CSRF on cookie sessions', () => {
  const ctx = useTestServer();
  it('refuses a cookie-authenticated write without the CSRF token, accepts it with', async () => {
    const carol = await person(ctx.server.url, 'carol');
    const token = carol.client.session?.token as string;
    const cookie = `vutler_session=${token}`;
    const body = JSON.stringify({ agentName: 'csrf-agent' });
    const forged = await fetch(`${ctx.server.url}/api/agents/tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', origin: 'https://evil.example' },
      body,
    });
    expect(forged.status).toBe(403);
    expect(await carol.client.listAgentTokens()).toHaveLength(0);
    const me = await fetch(`${ctx.server.url}/api/me`, { headers: { cookie } });
    const { csrfToken } = (await me.json()) as { csrfToken: string };
    const real = await fetch(`${ctx.server.url}/api/agents/tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrfToken },
      body,
    });
    expect(real.status).toBe(201);
  });

  it('does not let a cross-site page ride the cookie on the WebSocket', async () => {
    const dave = await person(ctx.server.url, 'dave');
    const { rawSocket } = await import('../helpers/ws.ts');
    const s = rawSocket(ctx.server.wsUrl, {
      cookie: `vutler_session=${dave.client.session?.token}`,
      origin: 'https://evil.example',
    });
    await s.open;
    s.ws.send(JSON.stringify({ type: 'hello' }));
    expect((await closedWithin(s, 5_000, 'cross-site socket')).code).toBe(4401);
  });
});

describe('revocation takes effect at once', () => {
  const ctx = useTestServer();
  it('a logged-out session fails on REST and its open WebSocket closes', async () => {
    const erin = await person(ctx.server.url, 'erin');
    const token = erin.client.session?.token as string;
    const s = await helloSocket(ctx.server.wsUrl, token);
    const closing = closedWithin(s, 5_000, 'revoked socket');
    await erin.client.logout();
    expect((await closing).code).toBe(4401);
    const res = await fetch(`${ctx.server.url}/api/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(401);
    const again = (await import('../helpers/ws.ts')).rawSocket(ctx.server.wsUrl);
    await again.open;
    again.ws.send(JSON.stringify({ type: 'hello', token }));
    expect((await closedWithin(again, 5_000, 'reconnect with revoked token')).code).toBe(4401);
  });

  it('a revoked agent token fails at once', async () => {
    const finn = await person(ctx.server.url, 'finn');
    const t = await finn.client.createAgentToken({ agentName: 'finn-agent' });
    const who = () =>
      fetch(`${ctx.server.url}/api/agent/whoami`, {
        headers: { authorization: `Bearer ${t.token}` },
      });
    expect((await who()).status).toBe(200);
    await finn.client.revokeAgentToken(t.id);
    expect((await who()).status).toBe(401);
  });
});
