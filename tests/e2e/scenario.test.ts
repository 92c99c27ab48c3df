/**
 * Issue 15's story end to end, as one pair of people lives it: Alice and Bob, each in their own
 * Chromium, share a chat; Alice follows the composer's "no grant" link to the Agents page, which
 * opens on claude and that chat, and grants claude read and write there (the key wrapped and
 * signed in her page); she mentions @claude, watches the live status and then the reply, which
 * the Anthropic stand-in wrote after seeing the decrypted chat; Bob sees the reply verified in his
 * browser; Alice revokes the key on the Agents page, a new mention ends "no grant", and its link
 * leads back to the Agents page with the chat picked; the Audit page lists the accesses with the
 * hash chain verified on her device. Real worker, real PostgreSQL and Redis; a screenshot of every
 * step is saved under test-results/e2e (scenario-*.png).
 */
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBundle } from '../../src/web/build.ts';
import { type RecordedRequest, requestText, text, toolUse } from '../helpers/anthropic-standin.ts';
import { findSecrets } from '../helpers/canary.ts';
import { useAgentEnv } from '../helpers/workers.ts';
import { cspViolations, launch, openPerson, type Person, screenshot } from './browser.ts';
import {
  createDirectChat,
  recordAttr,
  seenAttr,
  send,
  signUp,
  waitForText,
  waitForVerifiedChain,
} from './flows.ts';

const run = randomBytes(4).toString('hex');
const alice = {
  email: `alice-${run}@example.test`,
  name: 'Alice',
  passphrase: `alice scenario kite ${run}`,
};
const bob = { email: `bob-${run}@example.test`, name: 'Bob', passphrase: `bob scenario ${run} y` };
const secrets = {
  bob: `The boat leaves from pier nine-${run}`,
  reply: `Bob said the boat leaves from pier nine-${run}.`,
};
const SLOW = { timeout: 60_000 };
const POLL = { timeout: 10_000 };
const focusedId = (page: Page) => page.evaluate(() => document.activeElement?.id ?? '');
const shot = (page: Page, step: string) => screenshot(page, `scenario-${step}`);
/** What the model was sent last in a request: the newest turn (a tool's result, say). */
const lastTurn = (r: RecordedRequest) =>
  requestText({ ...r, body: { ...r.body, messages: r.body.messages.slice(-1) } });

describe('issue 15 in one story: grant on the Agents page, @claude answers live, revoke, audit', () => {
  const t = useAgentEnv({ worker: { VUTLER_AUDIT_SEAL_INTERVAL_MS: '500' } });
  let browser: Browser;
  let A: Person;
  let B: Person;
  const people: Person[] = [];
  let chatId = '';

  beforeAll(async () => {
    await ensureWebBundle();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const [i, p] of people.entries()) {
      await screenshot(p.page, `scenario-failure-${ctx.task.name.slice(0, 24)}-${i}`).catch(
        () => undefined,
      );
      console.log(`person ${i} console:`, p.traffic.console.slice(-15), p.traffic.pageErrors);
    }
    for (const w of t.workers) console.log(w.lines.slice(-20).join('\n'));
  });

  it('Alice and Bob share a chat in their own browsers; @claude has no grant there yet', async () => {
    A = await openPerson(browser, t.server.url);
    B = await openPerson(browser, t.server.url);
    people.push(A, B);
    await signUp(A.page, alice);
    await signUp(B.page, bob);
    await createDirectChat(A.page, bob.email);
    await B.page.getByRole('button', { name: /Alice/ }).click({ timeout: 15_000 });
    await send(B.page, secrets.bob);
    await waitForText(A.page, secrets.bob);
    const { rows } = await t.db.pool.query<{ chat_id: string }>(
      'SELECT chat_id FROM messages ORDER BY created_at DESC LIMIT 1',
    );
    chatId = rows[0]!.chat_id;
    await shot(B.page, '01-bob-writes');

    // Typing the mention already says claude cannot read here, with the way to grant it.
    await A.page.getByLabel('Message', { exact: true }).fill('@claude when does the boat leave?');
    const hint = A.page.locator('.composer .hint', {
      hasText: '@claude has no grant for this chat',
    });
    await hint.waitFor({ timeout: 15_000 });
    expect(await hint.getByRole('link').getAttribute('href')).toBe(
      `#/agents?chat=${chatId}&agent=claude`,
    );
    await shot(A.page, '02-alice-no-grant-yet');
  }, 240_000);

  it('Alice follows the link and grants claude read and write on that chat on the Agents page', async () => {
    const { page } = A;
    await page
      .locator('.composer .hint')
      .getByRole('link', { name: 'Grant it on the Agents page' })
      .click();
    await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
    // The link picked the agent and brought the chats' access into view, focused.
    expect(await page.getByLabel('Agent', { exact: true }).inputValue()).toBe('claude');
    const chats = page.locator('fieldset[data-kind="chat"]');
    const note = chats.getByTestId('linked-chat');
    await note.waitFor(SLOW);
    expect(await note.textContent()).toContain('To let claude read and answer in “Bob”: choose');
    await expect.poll(() => focusedId(page), POLL).toBe('agent-chat-level');
    // Nothing is allowed by following a link: the person still chooses and saves.
    expect(await page.getByLabel('Chats access').inputValue()).toBe('denied');
    await shot(page, '03-agents-page-from-link');

    await page.getByLabel('Chats access').selectOption('decrypt_ephemeral');
    const row = chats.locator('li[data-linked="true"]');
    expect(await row.textContent()).toContain('Bob');
    await chats.getByLabel('Bob', { exact: true }).check();
    await chats.getByLabel('History for Bob').selectOption('all_history');
    await chats.getByLabel('May post messages to these chats').check();
    await note
      .getByText('“Bob” is chosen, but claude holds no key for it: save to grant it.')
      .waitFor();
    await shot(page, '04-agents-chosen');
    await page.getByRole('button', { name: 'Save access for claude' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor(SLOW);
    await chats.getByText('key granted (all history, epoch 0)').waitFor();
    await note.getByText('claude holds the key of “Bob” and may answer there.').waitFor();
    await shot(page, '05-agents-granted');

    const perm = await t.db.pool.query<{ access_level: string; conditions: unknown }>(
      "SELECT access_level, conditions FROM agent_permissions WHERE agent_name = 'claude' AND resource_type = 'chat'",
    );
    expect(perm.rows).toEqual([
      {
        access_level: 'decrypt_ephemeral',
        conditions: { resource_ids: [chatId], allow_write: true },
      },
    ]);
    // The wrap was made in Alice's page: what the server stored is the envelope her browser sent.
    const stored = await t.db.pool.query<{ epoch: number; envelope: Buffer }>(
      "SELECT epoch, envelope FROM agent_key_grants WHERE resource_id = $1 AND agent_name = 'claude'",
      [chatId],
    );
    expect(stored.rows.map((r) => r.epoch)).toEqual([0]);
    const sent = A.traffic.requests
      .filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/agents/grants')
      .map((r) => JSON.parse(r.body) as { resourceId: string; wraps: { envelope: string }[] });
    const wrap = sent.find((b) => b.resourceId === chatId)?.wraps[0]?.envelope ?? '';
    expect(Buffer.from(wrap, 'base64').equals(stored.rows[0]!.envelope)).toBe(true);
  });

  it('Alice mentions @claude: the live status, then the reply, marked as the agent’s and verified', async () => {
    const { page } = A;
    await page.getByRole('link', { name: 'Chats' }).click();
    await page.getByRole('button', { name: /^Bob/ }).click();
    await page.locator('#chat-title', { hasText: 'Bob' }).waitFor();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    t.standin.script([
      toolUse('read_messages', { chatId, limit: 20 }, 'Reading the chat.'),
      async () => {
        // The answer waits until the page showed the run at work.
        await held;
        return text(secrets.reply);
      },
    ]);
    const before = t.standin.requests.length;
    await recordAttr(page, 'data-run-status', '__runs');
    await send(page, '@claude when does the boat leave?');
    await page.getByText('@claude is using read_messages…').waitFor({ timeout: 30_000 });
    await shot(page, '06-alice-claude-at-work');
    release();
    const reply = page.locator('.messages li[data-agent="claude"]', { hasText: secrets.reply });
    await reply.waitFor({ timeout: 30_000 });
    expect(await reply.getAttribute('data-status')).toBe('ok');
    await reply.getByText('✓ Verified: signed by the pinned gateway key').waitFor();
    await reply.getByText('agent · on your behalf').waitFor();
    await page.getByText('✓ @claude replied').waitFor();
    const seen = await seenAttr(page, '__runs');
    expect(seen).toContain('tool');
    expect(seen[seen.length - 1]).toBe('done');
    await shot(page, '07-alice-claude-replied');

    // The model saw the chat decrypted: in the context it was given, and as the tool's result.
    expect(t.standin.requests.length).toBe(before + 2);
    expect(requestText(t.standin.requests[before]!)).toContain(secrets.bob);
    expect(lastTurn(t.standin.requests[before + 1]!)).toContain(secrets.bob);
  });

  it('Bob, in his own browser, sees the reply as claude’s on Alice’s behalf, verified', async () => {
    const { page } = B;
    const reply = page.locator('.messages li[data-agent="claude"]', { hasText: secrets.reply });
    await reply.waitFor({ timeout: 15_000 });
    expect(await reply.getAttribute('data-status')).toBe('ok');
    await reply.getByText('✓ Verified: signed by the pinned gateway key').waitFor();
    await reply.getByText('agent · for Alice').waitFor();
    await reply.scrollIntoViewIfNeeded();
    await shot(page, '08-bob-sees-reply-verified');
  });

  it('Alice revokes the key on the Agents page; a new mention ends "no grant", linking back to the chat', async () => {
    const { page } = A;
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
    const chats = page.locator('fieldset[data-kind="chat"]');
    await chats.getByRole('button', { name: 'Revoke key for Bob' }).click();
    await chats.getByText('no key yet: granted when you save').waitFor(SLOW);
    const wraps = await t.db.pool.query('SELECT 1 FROM agent_key_grants WHERE resource_id = $1', [
      chatId,
    ]);
    expect(wraps.rowCount).toBe(0);
    const epoch = await t.db.pool.query<{ current_epoch: number }>(
      'SELECT current_epoch FROM chats WHERE id = $1',
      [chatId],
    );
    // Revoking rotated the chat key: what is written from now on, claude never had.
    expect(epoch.rows[0]?.current_epoch).toBe(1);
    await shot(page, '09-agents-revoked');

    await page.getByRole('link', { name: 'Chats' }).click();
    await page.getByRole('button', { name: /^Bob/ }).click();
    const before = t.standin.requests.length;
    const box = page.getByLabel('Message', { exact: true });
    await box.fill('@claude are you still there?');
    await page
      .locator('.composer .hint', { hasText: '@claude has no grant for this chat' })
      .waitFor({ timeout: 15_000 });
    await box.press('Enter');
    const failed = page.locator('.agent-run[data-run-status="failed"]');
    await failed.waitFor({ timeout: 30_000 });
    expect(await failed.textContent()).toContain(
      '@claude could not answer: no grant for this chat',
    );
    const link = failed.getByRole('link', { name: 'Grant it on the Agents page' });
    expect(await link.getAttribute('href')).toBe(`#/agents?chat=${chatId}&agent=claude`);
    // Refused before any model call.
    expect(t.standin.requests.length).toBe(before);
    await failed.scrollIntoViewIfNeeded();
    await shot(page, '10-alice-no-grant');
    // Bob sees the failure too, without a link to someone else's grants.
    const bobsView = B.page.locator('.agent-run[data-run-status="failed"]');
    await bobsView.waitFor({ timeout: 15_000 });
    expect(await bobsView.getByRole('link').count()).toBe(0);
    await bobsView.scrollIntoViewIfNeeded();
    await shot(B.page, '11-bob-sees-no-grant');

    // The link opens the Agents page on claude with this chat picked: its row marked and focused.
    await link.click();
    await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#/agents?chat=${chatId}&agent=claude`);
    expect(await page.getByLabel('Agent', { exact: true }).inputValue()).toBe('claude');
    const row = chats.locator('li[data-linked="true"]');
    await row.waitFor(SLOW);
    expect(await row.textContent()).toContain('Bob');
    await expect.poll(() => focusedId(page), POLL).toBe(`agent-chat-item-${chatId}`);
    const box2 = await row.boundingBox();
    const viewport = page.viewportSize()!;
    expect(box2 && box2.y >= 0 && box2.y + box2.height <= viewport.height).toBe(true);
    await chats
      .getByTestId('linked-chat')
      .getByText('“Bob” is chosen, but claude holds no key for it: save to grant it.')
      .waitFor();
    await shot(page, '12-agents-page-from-failed-run');

    // A link typed or pasted: another agent is picked (and listed); a chat not hers is said so,
    // and a malformed agent name is ignored rather than used.
    await page.evaluate((id) => {
      location.hash = `#/agents?agent=desktop&chat=${id}`;
    }, chatId);
    await expect.poll(() => page.getByLabel('Agent', { exact: true }).inputValue()).toBe('desktop');
    await chats
      .getByTestId('linked-chat')
      .getByText('To let desktop read and answer in “Bob”: choose')
      .waitFor();
    await expect.poll(() => focusedId(page), POLL).toBe('agent-chat-level');
    await page.evaluate(() => {
      location.hash = `#/agents?chat=${crypto.randomUUID()}&agent=Not%20valid`;
    });
    await chats
      .getByTestId('linked-chat')
      .getByText('The chat in this link is not one of your chats')
      .waitFor();
    expect(await page.getByLabel('Agent', { exact: true }).inputValue()).toBe('desktop');
  });

  it('the Audit page lists claude’s accesses, allowed and denied, with the chain verified here', async () => {
    const { page } = A;
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const summary = await waitForVerifiedChain(page);
    expect(await summary.getAttribute('data-chain')).toBe('verified');
    expect(await summary.textContent()).toContain('Hash chain verified on this device');
    const rows = page.locator('.audit-table tbody tr');
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    // Named on this device: the server only knows the chat's id.
    expect(
      texts.some(
        (r) =>
          r.includes('claude') &&
          r.includes('read_messages') &&
          r.includes('Chat: Bob') &&
          r.includes('Allowed'),
      ),
      texts.join('\n'),
    ).toBe(true);
    // The reply it posted, and the mention after the revocation, refused for want of a grant.
    expect(
      texts.some((r) => r.includes('post_message') && r.includes('Allowed')),
      texts.join('\n'),
    ).toBe(true);
    expect(
      texts.some(
        (r) =>
          r.includes('claude') &&
          r.includes('read_messages') &&
          r.includes('Chat: Bob') &&
          r.includes('Denied') &&
          r.includes('no grant'),
      ),
      texts.join('\n'),
    ).toBe(true);
    await page.locator('.audit-table tbody tr[data-chain="sealed"]').first().waitFor(SLOW);
    await shot(page, '13-audit-verified');
  });

  it('left no content or passphrase in clear in the traffic, the stores or the worker’s logs', async () => {
    const clear = [alice.passphrase, bob.passphrase, secrets.bob, secrets.reply];
    for (const p of people) {
      for (const r of p.traffic.requests) {
        const blob = `${decodeURIComponent(r.url)}\n${JSON.stringify(r.headers)}\n${r.body}`;
        for (const s of clear)
          expect(blob.includes(s), `${r.method} ${r.url} carries a secret`).toBe(false);
      }
      for (const f of p.traffic.wsFrames)
        for (const s of clear) expect(f.includes(s), 'a socket frame carries a secret').toBe(false);
      expect(p.traffic.pageErrors).toEqual([]);
      expect(await cspViolations(p.page)).toEqual([]);
    }
    const needles = clear.map((value, i) => ({ label: `clear-${i}`, value }));
    expect(await findSecrets(t.db.pool, t.redis, needles)).toEqual([]);
    const logs = t.workers.flatMap((w) => w.lines).join('\n');
    for (const s of clear) expect(logs.includes(s)).toBe(false);
  });
});
