import { randomBytes } from 'node:crypto';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gatewayPublicBundle, parseGatewayKeys } from '../../src/crypto/grants.ts';
import { ensureWebBundle } from '../../src/web/build.ts';
import { useTestServer } from '../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient, textOf } from '../helpers/gateway.ts';
import { MemoryProvider } from '../helpers/oauth.ts';
import { person } from '../helpers/people.ts';
import {
  cspViolations,
  fitsWidth,
  launch,
  openPerson,
  type Person,
  screenshot,
} from './browser.ts';
import { createDirectChat, send, signUp, waitForText } from './flows.ts';

const key = await gatewayKeyLine();
const run = randomBytes(4).toString('hex');
const alice = {
  email: `alice-${run}@example.test`,
  name: 'Alice',
  passphrase: `alice agents page ${run}`,
};
const texts = {
  first: `Before the grant secret-${run}-1`,
  second: `Also before secret-${run}-2`,
  afterRevoke: `After the revocation secret-${run}-3`,
};
const REDIRECT = 'http://127.0.0.1:33419/callback';
const SLOW = { timeout: 60_000 };

async function savedAccess(page: Page) {
  await page.getByRole('button', { name: /^Save access for/ }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor(SLOW);
}

describe('the Agents page and the consent page in Chromium', () => {
  const ctx = useTestServer({ VUTLER_GATEWAY_KEY: key });
  let browser: Browser;
  const people: Person[] = [];
  let A: Person;
  let bob: Awaited<ReturnType<typeof person>>;
  let chatId = '';
  let token = '';

  beforeAll(async () => {
    await ensureWebBundle();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async (t) => {
    if (t.task.result?.state !== 'fail') return;
    for (const [i, p] of people.entries()) {
      await screenshot(p.page, `agents-failure-${t.task.name.slice(0, 30)}-${i}`).catch(
        () => undefined,
      );
      console.log(`person ${i} console:`, p.traffic.console.slice(-15), p.traffic.pageErrors);
    }
  });

  it('Alice grants claude read and write on a chat from the Agents page, and a token issued there works with the SDK', async () => {
    const url = ctx.server.url;
    bob = await person(url, 'bob');
    A = await openPerson(browser, url);
    people.push(A);
    const { page } = A;
    await signUp(page, alice);
    await createDirectChat(page, bob.email);
    await send(page, texts.first);
    await waitForText(page, texts.first);
    await send(page, texts.second);
    await waitForText(page, texts.second);
    chatId = (
      await ctx.db.pool.query<{ id: string }>(
        'SELECT id FROM chats ORDER BY created_at DESC LIMIT 1',
      )
    ).rows[0]!.id;

    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
    // The fingerprint is computed in the page from the keys it pinned: the server's key's.
    const expected = (await gatewayPublicBundle(await parseGatewayKeys(key))).fingerprint;
    const shown = page.getByTestId('gateway-fingerprint');
    await shown.waitFor(SLOW);
    expect((await shown.locator('span').allTextContents()).join(' ')).toBe(expected);
    // Pinned on first use — by this page, or moments before by the chat view, which pins the
    // gateway key when the app starts (to verify agents' replies).
    await page
      .getByText(
        /Pinned on this device just now \(first use\)\.|The same key this device pinned before\./,
      )
      .waitFor();
    // Nothing is allowed before the person chooses it.
    expect(await page.getByLabel('Chats access').inputValue()).toBe('denied');
    await screenshot(page, 'agents-page');

    await page.getByLabel('Chats access').selectOption('decrypt_ephemeral');
    const chats = page.locator('fieldset[data-kind="chat"]');
    await chats.getByLabel('bob', { exact: true }).check();
    await chats.getByLabel('History for bob').selectOption('all_history');
    await chats.getByLabel('May post messages to these chats').check();
    await chats.getByLabel('Max items per call').fill('50');
    await chats.getByLabel('Only between certain hours (UTC)').check();
    await chats.getByLabel('From (UTC hour)').selectOption('0');
    await chats.getByLabel('Until (UTC hour)').selectOption('24');
    await screenshot(page, 'agents-chat-access');
    await savedAccess(page);
    await chats.getByText('key granted (all history, epoch 0)').waitFor();

    const perm = await ctx.db.pool.query<{ access_level: string; conditions: unknown }>(
      "SELECT access_level, conditions FROM agent_permissions WHERE agent_name = 'claude' AND resource_type = 'chat'",
    );
    expect(perm.rows).toEqual([
      {
        access_level: 'decrypt_ephemeral',
        conditions: {
          resource_ids: [chatId],
          max_items_per_call: 50,
          allow_write: true,
          hours: { start: 0, end: 24 },
        },
      },
    ]);
    // The wrap was made in the page: the server stored an envelope it cannot open.
    const wraps = await ctx.db.pool.query<{ epoch: number }>(
      'SELECT epoch FROM agent_key_grants WHERE resource_id = $1 AND agent_name = $2',
      [chatId, 'claude'],
    );
    expect(wraps.rows.map((r) => r.epoch)).toEqual([0]);

    // A token, shown once, with the MCP URL and configurations carrying it.
    await page.getByLabel('Label (where it is used)').fill('e2e laptop');
    await page.getByRole('button', { name: 'Issue a token' }).click();
    const tokenBox = page.getByRole('textbox', { name: 'Agent token' });
    await tokenBox.waitFor(SLOW);
    token = await tokenBox.inputValue();
    expect(token).toMatch(/^vta_/);
    expect(await page.getByLabel('MCP URL').inputValue()).toBe(`${url}/mcp`);
    const configs = page.locator('pre[data-config]');
    expect(await configs.count()).toBe(6);
    for (const text of await configs.allTextContents()) expect(text).toContain(token);
    await page.getByText('Claude Desktop — HTTP').click();
    await screenshot(page, 'agents-token-once');

    const mcp = await mcpClient(url, token);
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId } });
    expect(read.isError).toBeFalsy();
    const got = JSON.stringify(read.structuredContent);
    expect(got).toContain(texts.first);
    expect(got).toContain(texts.second);
    const posted = await mcp.callTool({
      name: 'post_message',
      arguments: { chatId, text: `Agent reply ${run}` },
    });
    expect(posted.isError, textOf(posted)).toBeFalsy();
    await mcp.close();

    // The page fits a 360 px phone, token and configurations included.
    await page.setViewportSize({ width: 360, height: 760 });
    await screenshot(page, 'mobile-360-agents-token');
    expect(await fitsWidth(page)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await expect.poll(() => page.locator('#new-token').count()).toBe(0);
    await page.locator('.token-row[data-status="active"]', { hasText: 'e2e laptop' }).waitFor();
  });

  it('revoking the key from the page rotates the chat key, and the agent gets no key', async () => {
    const { page } = A;
    const chats = page.locator('fieldset[data-kind="chat"]');
    await chats.getByRole('button', { name: 'Revoke key for bob' }).click();
    await chats.getByText('no key yet: granted when you save').waitFor(SLOW);
    const wraps = await ctx.db.pool.query('SELECT 1 FROM agent_key_grants WHERE resource_id = $1', [
      chatId,
    ]);
    expect(wraps.rowCount).toBe(0);
    const epoch = await ctx.db.pool.query<{ current_epoch: number }>(
      'SELECT current_epoch FROM chats WHERE id = $1',
      [chatId],
    );
    expect(epoch.rows[0]?.current_epoch).toBe(1);
    await screenshot(page, 'agents-revoked');

    const mcp = await mcpClient(ctx.server.url, token);
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId } });
    expect(read.isError).toBe(true);
    expect(errorCode(read)).toBe('no-grant');
    await mcp.close();

    // The chat goes on in the new epoch for its members.
    await page.getByRole('button', { name: /^bob/ }).click();
    await send(page, texts.afterRevoke);
    await waitForText(page, texts.afterRevoke);
    const history = await bob.client.chats.history(chatId);
    expect(history.map((m) => m.body?.text)).toContain(texts.afterRevoke);

    // The token itself is revoked on the page too: the gateway then refuses it outright.
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('button', { name: 'Revoke token e2e laptop' }).click();
    await page.locator('.token-row[data-status="revoked"]').waitFor(SLOW);
    await expect(mcpClient(ctx.server.url, token)).rejects.toThrow();
  });

  it('an MCP client connects by OAuth: Chromium signs in and consents in the web app, chooses a chat grant, and the tool reads that chat', async () => {
    const url = ctx.server.url;
    const provider = new MemoryProvider(REDIRECT);
    const mcpUrl = new URL('/mcp', url);
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await expect(
      new Client({ name: 'oauth-e2e', version: '1.0.0' }).connect(first),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    const authUrl = provider.authorizationUrl!;

    // A browser that is not signed in: the app asks for sign-in, then continues to the consent.
    const C = await openPerson(browser, url);
    people.push(C);
    let redirected: URL | undefined;
    await C.page.route(`${REDIRECT}**`, async (route) => {
      redirected = new URL(route.request().url());
      await route.fulfill({ status: 200, body: 'done' });
    });
    await C.page.goto(String(authUrl));
    await C.page.getByText('An MCP client asks to connect').waitFor(SLOW);
    expect(new URL(C.page.url()).hash).toMatch(/^#\/consent\?/);
    await C.page.getByLabel('Email').fill(alice.email);
    await C.page.getByLabel('Passphrase').fill(alice.passphrase);
    await screenshot(C.page, 'consent-signin');
    await C.page.getByRole('button', { name: 'Sign in' }).click();
    await C.page.getByRole('heading', { name: 'Connect Test MCP Client to Vutler' }).waitFor(SLOW);
    expect(await C.page.getByTestId('client-name').textContent()).toBe('Test MCP Client');
    expect(await C.page.getByTestId('redirect-host').textContent()).toBe('127.0.0.1:33419');
    expect(await C.page.getByLabel('Agent name it acts as').inputValue()).toBe('test-mcp-client');
    // Nothing is granted by default.
    for (const kind of ['Chats', 'Files', 'Memory', 'GitHub'])
      expect(await C.page.getByLabel(`${kind} access`).inputValue()).toBe('denied');
    await C.page.getByText('Nothing yet').waitFor();
    await screenshot(C.page, 'consent-page');

    await C.page.getByLabel('Agent name it acts as').fill('desktop');
    await C.page.getByLabel('Chats access').selectOption('decrypt_ephemeral');
    const chats = C.page.locator('fieldset[data-kind="chat"]');
    // Right after the rename: the page once reset the draft in an effect that ran after the next
    // paint, which undid this choice now and then (no chat list to tick). On failure, say what the
    // fieldset showed.
    await chats
      .getByLabel('bob', { exact: true })
      .check()
      .catch(async (err: Error) => {
        await screenshot(C.page, 'consent-chat-missing');
        const shown = await chats.innerText().catch(() => '(fieldset unreadable)');
        throw new Error(`${err.message}\nThe Chats fieldset showed:\n${shown}`);
      });
    await C.page.locator('.consent-summary', { hasText: 'Chats: content (1 chosen)' }).waitFor();
    await screenshot(C.page, 'consent-chosen');
    await C.page.setViewportSize({ width: 360, height: 760 });
    await screenshot(C.page, 'mobile-360-consent');
    expect(await fitsWidth(C.page)).toBe(true);
    await C.page.setViewportSize({ width: 1280, height: 800 });
    await C.page.getByRole('button', { name: 'Allow' }).click();
    await expect.poll(() => redirected?.searchParams.get('code') ?? null, SLOW).not.toBeNull();
    expect(redirected?.searchParams.get('state')).toBe(authUrl.searchParams.get('state'));

    await first.finishAuth(redirected?.searchParams.get('code') ?? '');
    const mcp = new Client({ name: 'oauth-e2e', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    const who = await mcp.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(who.structuredContent)).toContain('desktop');
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId } });
    expect(read.isError, textOf(read)).toBeFalsy();
    const got = JSON.stringify(read.structuredContent);
    // "From now on": the epoch after the revocation, not the history before it.
    expect(got).toContain(texts.afterRevoke);
    expect(got).not.toContain(texts.first);
    await mcp.close();

    // The Agents page lists the connection; disconnecting it ends its tokens.
    await A.page.reload();
    await A.page.getByLabel('Passphrase').fill(alice.passphrase);
    await A.page.getByRole('button', { name: 'Unlock' }).click();
    await A.page.getByRole('heading', { name: 'Agents', exact: true }).waitFor(SLOW);
    const row = A.page.locator('.token-row', { hasText: 'Test MCP Client' });
    await row.waitFor(SLOW);
    expect(await row.textContent()).toContain('desktop');
    await row.scrollIntoViewIfNeeded();
    await screenshot(A.page, 'agents-connected-client');
    await A.page.getByRole('button', { name: 'Disconnect Test MCP Client' }).click();
    await A.page.getByText('No client is connected.').waitFor(SLOW);
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
  });

  it('honours /?next= for the consent, and denying sends access_denied back with nothing granted', async () => {
    const url = ctx.server.url;
    const provider = new MemoryProvider(REDIRECT);
    await expect(
      new Client({ name: 'x', version: '1' }).connect(
        new StreamableHTTPClientTransport(new URL('/mcp', url), { authProvider: provider }),
      ),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    const authUrl = provider.authorizationUrl!;
    const C = people.at(-1)!;
    let redirected: URL | undefined;
    await C.page.route(`${REDIRECT}**`, async (route) => {
      redirected = new URL(route.request().url());
      await route.fulfill({ status: 200, body: 'done' });
    });
    await C.page.goto(`/?next=${encodeURIComponent(`/oauth/authorize${authUrl.search}`)}`);
    // A fresh page load: the session is alive, the keys are reopened with the passphrase.
    await C.page.getByLabel('Passphrase').fill(alice.passphrase);
    await C.page.getByRole('button', { name: 'Unlock' }).click();
    await C.page.getByRole('heading', { name: 'Connect Test MCP Client to Vutler' }).waitFor(SLOW);
    expect(new URL(C.page.url()).search).toBe('');
    const before = await ctx.db.pool.query('SELECT 1 FROM oauth_grants');
    await C.page.getByRole('button', { name: 'Deny' }).click();
    await expect
      .poll(() => redirected?.searchParams.get('error') ?? null, SLOW)
      .toBe('access_denied');
    expect(redirected?.searchParams.get('code')).toBeNull();
    const after = await ctx.db.pool.query('SELECT 1 FROM oauth_grants');
    expect(after.rowCount).toBe(before.rowCount);
  });

  it('sent no message text or passphrase in clear, and broke no CSP rule', async () => {
    const secrets = [alice.passphrase, ...Object.values(texts), `secret-${run}`];
    for (const p of people) {
      for (const r of p.traffic.requests) {
        const blob = `${decodeURIComponent(r.url)}\n${JSON.stringify(r.headers)}\n${r.body}`;
        for (const s of secrets)
          expect(blob.includes(s), `${r.method} ${r.url} carries a secret`).toBe(false);
      }
      expect(p.traffic.pageErrors).toEqual([]);
      if (!p.page.isClosed() && p.page.url().startsWith(ctx.server.url))
        expect(await cspViolations(p.page)).toEqual([]);
      const csp = p.traffic.console.filter((m) =>
        /Content.Security.Policy|Refused to/i.test(m.text),
      );
      expect(csp).toEqual([]);
    }
  });
});
