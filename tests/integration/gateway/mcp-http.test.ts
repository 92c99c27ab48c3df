import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

const ACCEPT = 'application/json, text/event-stream';

describe('/mcp as an HTTP endpoint', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  async function agent(name = 'claude') {
    const p = await person(t.server.url, 'owner');
    const issued = await p.client.createAgentToken({ agentName: name });
    return { ...p, token: issued.token, tokenId: issued.id };
  }

  function post(body: unknown, headers: Record<string, string> = {}) {
    return fetch(`${t.server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  const listTools = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };

  it('wants an agent token: 401 with WWW-Authenticate: Bearer otherwise', async () => {
    const a = await agent();
    for (const auth of [
      undefined,
      'Bearer nope',
      `Bearer ${a.client.session!.token}`,
      'Basic abc',
    ]) {
      const res = await post(listTools, auth ? { authorization: auth } : {});
      expect(res.status, auth).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });

  it('refuses revoked and expired tokens', async () => {
    const used = await agent();
    const ok = await post(listTools, { authorization: `Bearer ${used.token}` });
    expect(ok.status).toBe(200);
    // Expired in PostgreSQL before this node has seen it (a token it remembers keeps the expiry it
    // read, checked on every use: tests/integration/gateway/token-cache.test.ts).
    const a = await agent();
    await t.db.pool.query(
      `UPDATE agent_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [a.tokenId],
    );
    expect((await post(listTools, { authorization: `Bearer ${a.token}` })).status).toBe(401);
    const b = await agent();
    await b.client.revokeAgentToken(b.tokenId);
    expect((await post(listTools, { authorization: `Bearer ${b.token}` })).status).toBe(401);
  });

  it('refuses a forged Origin or Host with 403 before anything else', async () => {
    const a = await agent();
    const auth = { authorization: `Bearer ${a.token}` };
    expect((await post(listTools, { ...auth, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(listTools, { ...auth, origin: 'null' })).status).toBe(403);
    // fetch cannot set Host; a rebinding attack arrives with the attacker's name in it.
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${t.server.url}/mcp`);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: '/mcp',
          method: 'POST',
          headers: {
            ...auth,
            host: 'evil.example',
            'content-type': 'application/json',
            accept: ACCEPT,
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(listTools));
    });
    expect(status).toBe(403);
    expect((await post(listTools, { origin: 'https://evil.example' })).status).toBe(403);
    const local = await post(listTools, { ...auth, origin: new URL(t.server.url).origin });
    expect(local.status).toBe(200);
  });

  it('answers GET and DELETE with 405 (stateless: no stream, no session)', async () => {
    const a = await agent();
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${t.server.url}/mcp`, {
        method,
        headers: { authorization: `Bearer ${a.token}`, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('refuses an unsupported MCP-Protocol-Version with 400', async () => {
    const a = await agent();
    const res = await post(listTools, {
      authorization: `Bearer ${a.token}`,
      'mcp-protocol-version': '1999-01-01',
    });
    expect(res.status).toBe(400);
    const ok = await post(listTools, {
      authorization: `Bearer ${a.token}`,
      'mcp-protocol-version': '2025-06-18',
    });
    expect(ok.status).toBe(200);
  });

  it('answers malformed JSON-RPC, batch abuse and unknown methods with JSON-RPC errors', async () => {
    const a = await agent();
    const auth = { authorization: `Bearer ${a.token}` };
    const bad = await post('{"jsonrpc":', auth);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe(-32700);
    const big = await post(
      Array.from({ length: 17 }, (_, i) => ({ ...listTools, id: i })),
      auth,
    );
    expect(big.status).toBe(400);
    expect((await big.json()).error.code).toBe(-32600);
    expect((await post([], auth)).status).toBe(400);
    const notRpc = await post({ hello: 'world' }, auth);
    expect(notRpc.status).toBe(400);
    const unknown = await post({ jsonrpc: '2.0', id: 7, method: 'nope/nothing', params: {} }, auth);
    const body = await unknown.json();
    expect(body.error.code).toBe(-32601);
    const huge = await post(
      {
        jsonrpc: '2.0',
        id: 8,
        method: 'tools/call',
        params: { name: 'whoami', arguments: { x: 'a'.repeat(2 * 1024 * 1024) } },
      },
      auth,
    );
    expect(huge.status).toBe(413);
  });

  it('reads a body as fetch would (BOM, chunked) and answers every call of a batch', async () => {
    const a = await agent();
    const auth = { authorization: `Bearer ${a.token}` };
    const whoami = (id: number) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'whoami', arguments: {} },
    });
    // A leading UTF-8 BOM is dropped, as Request.text() drops it.
    const bom = await post(`\uFEFF${JSON.stringify(whoami(1))}`, auth);
    expect(bom.status).toBe(200);
    expect((await bom.json()).result.isError).toBeFalsy();
    // Chunked (no Content-Length): read through the WHATWG request and its byte-counting limit.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${t.server.url}/mcp`);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: '/mcp',
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json', accept: ACCEPT },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      const text = JSON.stringify([
        listTools,
        whoami(2),
        { ...whoami(3), params: { name: 'drop_tables', arguments: {} } },
      ]);
      req.write(text.slice(0, 10));
      req.end(text.slice(10));
    });
    expect(chunked.status).toBe(200);
    const answers = JSON.parse(chunked.body) as {
      id: number;
      result: { tools?: { name: string }[]; isError?: boolean; content?: { text: string }[] };
    }[];
    const byId = new Map(answers.map((x) => [x.id, x.result]));
    expect(byId.get(1)?.tools?.map((x) => x.name)).toContain('whoami');
    // Only the tools a request calls are registered on its server: each still answers as before.
    expect(byId.get(2)?.isError).toBeFalsy();
    expect(byId.get(3)?.isError).toBe(true);
    expect(byId.get(3)?.content?.[0]?.text).toMatch(/drop_tables not found/);
  });

  it('turns unknown tools and schema-violating arguments into isError results', async () => {
    const a = await agent();
    await a.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    const mcp = await mcpClient(t.server.url, a.token);
    const unknown = await mcp.callTool({ name: 'drop_tables', arguments: {} });
    expect(unknown.isError).toBe(true);
    for (const args of [
      { chatId: 'not-a-uuid' },
      { chatId: '0190d5c2-0000-7000-8000-000000000001', limit: 10_000 },
      { chatId: '0190d5c2-0000-7000-8000-000000000001', extra: true },
      { chatId: '0190d5c2-0000-7000-8000-000000000001', before: 3, after: 1 },
    ]) {
      const r = await mcp.callTool({ name: 'read_messages', arguments: args });
      expect(r.isError, JSON.stringify(args)).toBe(true);
    }
    await mcp.close();
  });

  it('lists only the tools the permissions allow', async () => {
    const a = await agent();
    const names = async () => {
      const mcp = await mcpClient(t.server.url, a.token);
      const n = (await mcp.listTools()).tools.map((x) => x.name).sort();
      await mcp.close();
      return n;
    };
    expect(await names()).toEqual(['whoami']);
    await a.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'metadata',
    });
    expect(await names()).toEqual(['list_chats', 'whoami']);
    await a.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    expect(await names()).toEqual(['list_chats', 'read_messages', 'search_messages', 'whoami']);
    await a.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true, expires_at: new Date(Date.now() - 1000).toISOString() },
    });
    expect(await names()).toEqual(['whoami']);
  });

  it('publishes the gateway public keys with a fingerprint the SDK pins', async () => {
    const res = await fetch(`${t.server.url}/api/gateway/keys`);
    const bundle = await res.json();
    expect(Object.keys(bundle).sort()).toEqual(['ed25519', 'fingerprint', 'x25519']);
    const a = await agent();
    const pinned = await a.client.agents.gateway();
    expect(pinned.fingerprint).toBe(bundle.fingerprint);
  });
});
