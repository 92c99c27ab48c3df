import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { sample, scrape as scrapeWith } from '../helpers/metrics.ts';
import { person } from '../helpers/people.ts';
import { helloSocket } from '../helpers/ws.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

const scrape = (url: string, token = TOKEN) => scrapeWith(url, token);

describe('GET /metrics', () => {
  const ctx = useTestServer({ VUTLER_METRICS_TOKEN: TOKEN });

  it('refuses a missing or wrong token', async () => {
    expect((await fetch(`${ctx.server.url}/metrics`)).status).toBe(401);
    expect((await scrape(ctx.server.url, `${TOKEN}x`)).status).toBe(401);
  });

  it('counts requests by route pattern and status, with latency, and WebSocket connections', async () => {
    const alice = await person(ctx.server.url, 'alice');
    const chat = await alice.client.chats.create({ kind: 'group', memberIds: [] });
    await fetch(`${ctx.server.url}/api/chats/${chat.id}`);
    await fetch(`${ctx.server.url}/no/such/route`);
    const res = await scrape(ctx.server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(
      sample(text, 'vutler_http_requests_total', { route: '/api/auth/register' }),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'vutler_http_requests_total', { route: '/api/chats/:id', status: '401' }),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'vutler_http_requests_total', { route: 'unmatched', status: '404' }),
    ).toBeGreaterThan(0);
    expect(text).not.toContain(chat.id);
    expect(
      sample(text, 'vutler_http_request_duration_seconds_count', { route: '/api/auth/register' }),
    ).toBeGreaterThan(0);
  });

  it('reports open WebSocket connections', async () => {
    const bob = await person(ctx.server.url, 'bob');
    const login = await fetch(`${ctx.server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(login.status).toBe(422);
    const session = bob.client.session?.token;
    const before = sample(await (await scrape(ctx.server.url)).text(), 'vutler_ws_connections');
    const s = await helloSocket(ctx.server.wsUrl, session as string);
    const during = sample(await (await scrape(ctx.server.url)).text(), 'vutler_ws_connections');
    expect(during).toBe(before + 1);
    s.ws.close();
  });

  it('sets security headers on every answer', async () => {
    const res = await fetch(`${ctx.server.url}/health`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const err = await fetch(`${ctx.server.url}/api/me`);
    expect(err.status).toBe(401);
    expect(err.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('GET /metrics without a token configured', () => {
  const ctx = useTestServer();
  it('does not exist', async () => {
    expect((await scrape(ctx.server.url)).status).toBe(404);
  });
});
