import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';
import { until } from '../helpers/wait.ts';
import { closedWithin, helloSocket, rawSocket } from '../helpers/ws.ts';

describe('GET /ws: the WebSocket protocol edges', () => {
  const t = useTestServer({ VUTLER_WS_MAX_SOCKETS_PER_USER: '3' });

  it('answers a plain GET without Upgrade with 426 Upgrade Required, as problem+json', async () => {
    const res = await fetch(t.server.wsUrl.replace('ws:', 'http:'));
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 426 });
  });

  it('answers frames sent right after hello, before ready, instead of dropping them', async () => {
    const bob = await person(t.server.url, 'bob');
    const s = rawSocket(t.server.wsUrl);
    await s.open;
    s.ws.send(JSON.stringify({ type: 'hello', token: bob.client.session!.token }));
    s.ws.send(JSON.stringify({ type: 'ping' }));
    s.ws.send(JSON.stringify({ type: 'typing', chatId: randomUUID() }));
    await s.frame((f) => f.type === 'pong', 'pong for the early ping');
    await s.frame((f) => f.type === 'error', 'error for the early typing in a foreign chat');
    // In order: ready first (hello), then the answers in the order the frames were sent.
    expect(s.frames.map((f) => f.type)).toEqual(['ready', 'pong', 'error']);
    s.ws.close();
  });

  it('validates every cursor key with the same schema, __proto__ included (4400)', async () => {
    const bob = await person(t.server.url, 'bob');
    for (const raw of [
      `{"type":"hello","token":"${bob.client.session!.token}","cursors":{"__proto__":{"x":1}}}`,
      `{"type":"hello","token":"${bob.client.session!.token}","cursors":{"__proto__":5}}`,
      `{"type":"hello","token":"${bob.client.session!.token}","cursors":{"constructor":5}}`,
      `{"type":"hello","token":"${bob.client.session!.token}","cursors":{"not-a-uuid":5}}`,
    ]) {
      const s = rawSocket(t.server.wsUrl);
      await s.open;
      s.ws.send(raw);
      expect((await closedWithin(s, 5_000, raw)).code).toBe(4400);
    }
    const ok = await helloSocket(t.server.wsUrl, bob.client.session!.token, {
      [randomUUID()]: 3,
    });
    ok.ws.close();
  });

  it('caps sockets per user: the one past the limit is closed with 4029, others are unaffected', async () => {
    const [carol, dave] = await Promise.all([
      person(t.server.url, 'carol'),
      person(t.server.url, 'dave'),
    ]);
    const token = carol.client.session!.token;
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await helloSocket(t.server.wsUrl, token));
    const extra = rawSocket(t.server.wsUrl);
    await extra.open;
    extra.ws.send(JSON.stringify({ type: 'hello', token }));
    expect(await closedWithin(extra, 5_000, 'the socket over the cap')).toMatchObject({
      code: 4029,
      reason: expect.stringMatching(/too many/),
    });
    // Someone else is not counted against Carol's cap, and a freed slot can be used again.
    const other = await helloSocket(t.server.wsUrl, dave.client.session!.token);
    const hub = t.server.vutler.hub;
    const attached = hub.size;
    const freed = held.pop()!;
    freed.ws.close();
    await until(() => hub.size === attached - 1, 'the hub letting go of the closed socket');
    held.push(await helloSocket(t.server.wsUrl, token));
    for (const s of [other, ...held]) s.ws.close();
  });
});
