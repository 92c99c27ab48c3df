import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAllBytes } from '../../src/client/drive-upload.ts';
import { clusterEnv, Nginx, startServeNodes, VutlerProcess } from '../helpers/cluster.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { gatewayKeyLine, mcpClient, textOf } from '../helpers/gateway.ts';
import { person } from '../helpers/people.ts';
import { vdriveEnv } from '../helpers/vdrive.ts';
import { helloSocket } from '../helpers/ws.ts';

/**
 * The deployment as shipped: Debian's nginx with deploy/nginx.conf in front of two real
 * `vutler serve` processes and one `vutler worker`, on loopback.
 */
const METRICS_TOKEN = randomBytes(24).toString('hex');

function wsConnections(text: string): number {
  const line = text.split('\n').find((l) => l.startsWith('vutler_ws_connections '));
  return Number(line?.split(' ')[1]);
}

describe('nginx in front of two serve nodes and a worker', () => {
  let db: TestDatabase;
  let nodes: VutlerProcess[] = [];
  let worker: VutlerProcess;
  let nginx: Nginx;
  let drive: ReturnType<typeof vdriveEnv>;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Both nodes share what a real deployment shares: gateway key, at-rest keys, blob storage.
    drive = vdriveEnv();
    const env = clusterEnv(db.url, TEST_REDIS_URL, {
      VUTLER_METRICS_TOKEN: METRICS_TOKEN,
      VUTLER_GATEWAY_KEY: await gatewayKeyLine(),
      ...drive.overrides,
    });
    nodes = await startServeNodes(2, env);
    worker = new VutlerProcess('worker', env);
    await worker.start();
    nginx = await Nginx.start(nodes.map((n) => n.port as number));
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all([...nodes, worker].map((p) => p?.kill('SIGTERM')));
    await db?.drop();
    await drive?.cleanup();
  });

  it('proxies REST with security headers and a request id', async () => {
    const res = await fetch(`${nginx.url}/ready`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('server')).toBe('nginx');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('logs in through nginx, and refuses bodies over the app limit at the proxy', async () => {
    const alice = await person(nginx.url, 'alice');
    expect(alice.client.session?.token).toBeTruthy();
    const big = await fetch(`${nginx.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(big.status).toBe(413);
    // nginx's own answer, as problem+json like the app's.
    expect(big.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await big.json()).toMatchObject({
      status: 413,
      type: 'urn:vutler:problem:payload-too-large',
    });
  });

  it('delivers WebSocket messages across nodes through nginx', async () => {
    const alice = await person(nginx.url, 'alice');
    const bob = await person(nginx.url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const wsUrl = `${nginx.url.replace('http', 'ws')}/ws`;
    // Round robin puts consecutive upgrades on alternate nodes; four sockets cover both.
    const sockets = [];
    for (let i = 0; i < 4; i++)
      sockets.push(await helloSocket(wsUrl, bob.client.session?.token as string));
    const perNode = await Promise.all(
      nodes.map(async (n) =>
        wsConnections(
          await (
            await fetch(`${n.url}/metrics`, {
              headers: { authorization: `Bearer ${METRICS_TOKEN}` },
            })
          ).text(),
        ),
      ),
    );
    expect(perNode.every((c) => c >= 1)).toBe(true);
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(4);

    const sent = await alice.client.chats.send(chat.id, 'across the proxy');
    for (const s of sockets) {
      const f = await s.frame(
        (f) =>
          f.type === 'message.created' &&
          (f.message as { id?: string } | undefined)?.id === sent.id,
        'message on every socket',
      );
      expect(f.chatId).toBe(chat.id);
    }
    for (const s of sockets) s.ws.close();
  });

  it('hands the client address to the app as X-Forwarded-For, ignoring a spoofed one', async () => {
    // Sessions record the address nginx reports (and the login limiter keys on it): a client
    // sending its own X-Forwarded-For must not choose it.
    const spoofing = await person(nginx.url, 'mallory', {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: {
            ...(init?.headers as Record<string, string>),
            'x-forwarded-for': '203.0.113.9',
          },
        }),
    });
    const { rows } = await db.pool.query<{ ip: string | null }>(
      'SELECT host(ip_address) AS ip FROM sessions WHERE user_id = $1',
      [spoofing.id],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.ip).toBe('127.0.0.1');
  });

  it('applies the login limit_req zone before the app', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 60 }, () =>
        fetch(`${nginx.url}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }).then(async (r) => {
          if (r.status === 429) {
            expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
            expect(await r.json()).toMatchObject({
              status: 429,
              type: 'urn:vutler:problem:rate-limited',
            });
          } else await r.body?.cancel();
          return r.status;
        }),
      ),
    );
    expect(statuses).toContain(429);
    expect(statuses).toContain(422);
  });

  it('answers an MCP tool call through nginx (streamed, unbuffered /mcp)', async () => {
    const alice = await person(nginx.url, 'alice');
    const bob = await person(nginx.url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await bob.client.chats.send(chat.id, 'for the agent, through the proxy');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantChat(chat.id, 'claude');
    const mcp = await mcpClient(nginx.url, token);
    const r = await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    expect(r.isError).toBeFalsy();
    expect(textOf(r)).toContain('for the agent, through the proxy');
    await mcp.close();
    // The call was counted on whichever node served it.
    const scraped = await Promise.all(
      nodes.map(async (n) =>
        (
          await fetch(`${n.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
        ).text(),
      ),
    );
    expect(scraped.join('\n')).toMatch(
      /vutler_mcp_calls_total\{tool="read_messages",outcome="ok"\} [1-9]/,
    );
  });

  it('uploads and downloads an encrypted file through nginx, bigger than a proxy buffer', async () => {
    const alice = await person(nginx.url, 'alice');
    const content = randomBytes(3 * 1024 * 1024 + 123);
    const file = await alice.client.drive.upload(new Blob([content]), { name: 'big.bin' });
    const back = await readAllBytes(await alice.client.drive.download(file.id));
    expect(Buffer.from(back).equals(content)).toBe(true);
  });

  it('keeps the worker running beside the nodes', () => {
    expect(worker.child?.exitCode).toBeNull();
  });
});
