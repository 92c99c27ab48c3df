import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine } from '../../helpers/gateway.ts';
import { consent, MemoryProvider } from '../../helpers/oauth.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();
const REDIRECT = 'http://127.0.0.1:33418/callback';

/**
 * The protocol around the consent page, without a browser: /authorize hands a valid request to
 * the web app's consent route, the page's two calls (describe, decide) behave, and the SDK's
 * OAuth provider ends with a working token. The page itself, in Chromium: tests/e2e/agents.test.ts.
 */
describe('an MCP client connects by OAuth consent in the web app', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  async function authorizationQuery() {
    const provider = new MemoryProvider(REDIRECT);
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', t.server.url), {
      authProvider: provider,
    });
    await expect(
      new Client({ name: 'oauth-test', version: '1.0.0' }).connect(transport),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    const authUrl = provider.authorizationUrl;
    if (!authUrl) throw new Error('the SDK built no authorization URL');
    return { provider, transport, authUrl, request: Object.fromEntries(authUrl.searchParams) };
  }

  it('sends a valid request on to the web app, which describes it only to a signed-in person', async () => {
    const { authUrl, request } = await authorizationQuery();
    expect(authUrl.searchParams.get('resource')).toBe(`${t.server.url}/mcp`);
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    const res = await fetch(authUrl, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`/#/consent${authUrl.search}`);

    const anon = await fetch(`${t.server.url}/api/oauth/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request }),
    });
    expect(anon.status).toBe(401);
    const alice = await person(t.server.url, 'alice');
    const described = await alice.client.http.request('/api/oauth/request', {
      body: { request },
    });
    expect(described).toEqual({
      clientId: request.client_id,
      clientName: 'Test MCP Client',
      redirectHost: '127.0.0.1:33418',
      resource: `${t.server.url}/mcp`,
      suggestedAgent: 'test-mcp-client',
    });
    // A request altered in the page is checked again and refused, with an OAuth error.
    const altered = await fetch(`${t.server.url}/api/oauth/request`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice.client.session?.token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ request: { ...request, redirect_uri: 'https://attacker.example/' } }),
    });
    expect(altered.status).toBe(400);
    expect(((await altered.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('consent gives the SDK a token for the chosen agent; disconnecting ends it', async () => {
    const url = t.server.url;
    const alice = await person(url, 'alice');
    const bob = await person(url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'hello over oauth');
    const { provider, transport, request } = await authorizationQuery();

    // What the consent page does on "Allow": the access it chose, then the decision.
    await alice.client.agents.setPermission({
      agentName: 'desktop',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { resource_ids: [chat.id] },
    });
    await alice.client.agents.grantChat(chat.id, 'desktop');
    const res = await consent(url, alice.client.session?.token ?? '', request, 'desktop');
    expect(res.status).toBe(200);
    const to = new URL(((await res.json()) as { redirectTo: string }).redirectTo);
    expect(`${to.origin}${to.pathname}`).toBe(REDIRECT);
    expect(to.searchParams.get('state')).toBe(request.state ?? null);
    await transport.finishAuth(to.searchParams.get('code') ?? '');
    expect(provider.saved?.access_token).toMatch(/^vto_/);

    const mcpUrl = new URL('/mcp', url);
    const mcp = new Client({ name: 'oauth-test', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    const who = await mcp.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(who.structuredContent)).toContain('desktop');
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    expect(read.isError).toBeFalsy();
    expect(JSON.stringify(read.structuredContent)).toContain('hello over oauth');
    await mcp.close();

    const listed = await alice.client.connectedClients.list();
    expect(listed).toEqual([
      expect.objectContaining({
        clientName: 'Test MCP Client',
        agentName: 'desktop',
        redirectHost: '127.0.0.1:33418',
      }),
    ]);
    // Bob sees none of alice's connections and cannot disconnect them.
    expect(await bob.client.connectedClients.list()).toEqual([]);
    await expect(bob.client.connectedClients.disconnect(listed[0]?.id ?? '')).rejects.toThrow();

    await alice.client.connectedClients.disconnect(listed[0]?.id ?? '');
    const after = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${provider.saved?.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${url}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('denying sends access_denied back and stores nothing', async () => {
    const carol = await person(t.server.url, 'carol');
    const { request } = await authorizationQuery();
    const res = await carol.client.http.request<{ redirectTo: string }>('/api/oauth/consent', {
      body: { request, decision: 'deny' },
    });
    const to = new URL(res.redirectTo);
    expect(to.searchParams.get('error')).toBe('access_denied');
    expect(to.searchParams.get('code')).toBeNull();
    expect(await carol.client.connectedClients.list()).toEqual([]);
  });
});
