import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine } from '../../helpers/gateway.ts';
import { MemoryProvider } from '../../helpers/oauth.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();
const REDIRECT = 'http://127.0.0.1:33418/callback';

describe('an MCP client connects by OAuth consent, with Chromium on the consent page', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('registers by DCR, the person consents in the browser, the SDK gets a token and calls a tool', async () => {
    const url = t.server.url;
    const alice = await person(url, 'alice');
    const bob = await person(url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'hello over oauth');

    const provider = new MemoryProvider(REDIRECT);
    const mcpUrl = new URL('/mcp', url);
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    // The first connect learns it must authorize: the SDK registered and built the URL.
    await expect(client.connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    const authUrl = provider.authorizationUrl;
    expect(authUrl).toBeDefined();
    expect(authUrl?.searchParams.get('resource')).toBe(`${url}/mcp`);
    expect(authUrl?.searchParams.get('code_challenge_method')).toBe('S256');

    // Sign-in: the person's session cookie (the web app's login page sets the same cookie).
    const context = await browser.newContext();
    await context.addCookies([
      { name: 'vutler_session', value: alice.client.session?.token ?? '', url },
    ]);
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    // The client's loopback listener: catch the redirect instead of running a server.
    let redirected: URL | undefined;
    await page.route(`${REDIRECT}**`, async (route) => {
      redirected = new URL(route.request().url());
      await route.fulfill({ status: 200, body: 'done' });
    });
    await page.goto(String(authUrl));
    await expect.poll(() => page.locator('#consent').isVisible()).toBe(true);
    expect(await page.locator('#client-name').textContent()).toBe('Test MCP Client');
    expect(await page.locator('#redirect-host').textContent()).toBe('127.0.0.1:33418');
    // Nothing is granted by default.
    expect(await page.locator('#perm-chat-read').isChecked()).toBe(false);
    await page.locator('#agent-name').fill('desktop');
    await page.locator('#perm-chat-read').check();
    await page.locator('#approve').click();
    await expect.poll(() => redirected?.searchParams.get('code') ?? null).not.toBeNull();
    expect(redirected?.searchParams.get('state')).toBe(authUrl?.searchParams.get('state'));
    expect(cspViolations).toEqual([]);
    await context.close();

    await first.finishAuth(redirected?.searchParams.get('code') ?? '');
    expect(provider.saved?.access_token).toMatch(/^vto_/);

    // The chat grant is made on alice's device, as on the Agents page.
    await alice.client.agents.grantChat(chat.id, 'desktop');
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
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${provider.saved?.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${url}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('a person who is not signed in is asked to sign in, and denying sends access_denied back', async () => {
    const url = t.server.url;
    const alice = await person(url, 'carol');
    const provider = new MemoryProvider(REDIRECT);
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), {
      authProvider: provider,
    });
    await expect(new Client({ name: 'x', version: '1' }).connect(transport)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );

    const anon = await browser.newContext();
    const p1 = await anon.newPage();
    await p1.goto(String(provider.authorizationUrl));
    await expect.poll(() => p1.locator('#signin').isVisible()).toBe(true);
    expect(await p1.locator('#consent').isVisible()).toBe(false);
    await anon.close();

    const ctx = await browser.newContext();
    await ctx.addCookies([
      { name: 'vutler_session', value: alice.client.session?.token ?? '', url },
    ]);
    const page = await ctx.newPage();
    let redirected: URL | undefined;
    await page.route(`${REDIRECT}**`, async (route) => {
      redirected = new URL(route.request().url());
      await route.fulfill({ status: 200, body: 'done' });
    });
    await page.goto(String(provider.authorizationUrl));
    await expect.poll(() => page.locator('#consent').isVisible()).toBe(true);
    await page.locator('#deny').click();
    await expect.poll(() => redirected?.searchParams.get('error') ?? null).toBe('access_denied');
    expect(redirected?.searchParams.get('code')).toBeNull();
    await ctx.close();
    expect(await alice.client.connectedClients.list()).toEqual([]);
  });
});
