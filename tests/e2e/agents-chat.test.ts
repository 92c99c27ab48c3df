/**
 * Agents as people see them in the web app (issue 15): Alice mentions @claude in Chromium and
 * watches the run's live status, then the reply marked as the agent's and verified; Bob sees it
 * verified too, and a reply signed by another key as not verified; after the grant is revoked a
 * new mention ends "no grant" with the way to grant it; the Audit page lists the accesses with
 * the chain verified on the device and exports it; the GitHub page connects a token and a
 * repository, and a signed push shows a deploy going to success live, with a note in the chat.
 * Real Chromium, a real `vutler worker`, the Anthropic and GitHub stand-ins.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditExport } from '../../src/audit/export.ts';
import { CHAIN_ID_BYTES, MESSAGE_HASH_BYTES, sealMessage } from '../../src/crypto/messages.ts';
import { uuidv7 } from '../../src/crypto/uuid.ts';
import { ensureWebBundle } from '../../src/web/build.ts';
import { requestText, text, toolUse } from '../helpers/anthropic-standin.ts';
import { startHookServer } from '../helpers/deploys.ts';
import { deliver, EXAMPLE_REPO, newSha, pushPayload } from '../helpers/github.ts';
import { newClient } from '../helpers/people.ts';
import { useAgentEnv } from '../helpers/workers.ts';
import {
  cspViolations,
  fitsWidth,
  launch,
  openPerson,
  type Person,
  screenshot,
} from './browser.ts';
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
  passphrase: `alice agents horse ${run}`,
};
const bob = { email: `bob-${run}@example.test`, name: 'Bob', passphrase: `bob agents ${run} x` };
const secrets = {
  bob: `The launch code is tangerine-${run}`,
  hidden: `Hidden from agents secret-${run}-h`,
  reply: `Bob said the launch code is tangerine-${run}.`,
};

describe('agents, audit and GitHub deploys in the web app', () => {
  const t = useAgentEnv({ github: true, worker: { VUTLER_AUDIT_SEAL_INTERVAL_MS: '500' } });
  let browser: Browser;
  let A: Person;
  let B: Person;
  const people: Person[] = [];
  /** Alice's second device: the SDK in Node, used to set up grants (the Agents page is webagents'). */
  let aliceSdk: ReturnType<typeof newClient>;
  let chatId = '';
  let hook: Awaited<ReturnType<typeof startHookServer>>;

  beforeAll(async () => {
    await ensureWebBundle();
    browser = await launch();
    hook = await startHookServer();
  });
  afterAll(async () => {
    await browser?.close();
    await hook?.close();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const [i, p] of people.entries()) {
      await screenshot(p.page, `agents-failure-${ctx.task.name.slice(0, 24)}-${i}`).catch(
        () => undefined,
      );
      console.log(`person ${i} console:`, p.traffic.console.slice(-15));
    }
    for (const w of t.workers) console.log(w.lines.slice(-20).join('\n'));
  });

  it('sets up Alice and Bob in a chat, and grants claude that chat through the SDK', async () => {
    A = await openPerson(browser, t.server.url);
    B = await openPerson(browser, t.server.url, { width: 360, height: 760 });
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
    aliceSdk = newClient(t.server.url);
    await aliceSdk.login({ email: alice.email, passphrase: alice.passphrase });
    await aliceSdk.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    await aliceSdk.agents.grantChat(chatId, 'claude');
  });

  it('hides one message from agents: the composer signs the policy and the message says so', async () => {
    const { page } = A;
    await page.getByLabel('Hide from agents').check();
    await send(page, secrets.hidden);
    await waitForText(page, secrets.hidden);
    const li = page.locator('.messages li', { hasText: secrets.hidden });
    await li.locator('.tag-hidden', { hasText: 'Hidden from agents' }).waitFor();
    // The box is unticked again for the next message.
    expect(await page.getByLabel('Hide from agents').isChecked()).toBe(false);
    const { rows } = await t.db.pool.query(
      'SELECT decryption_permissions FROM messages WHERE chat_id = $1 ORDER BY seq DESC LIMIT 1',
      [chatId],
    );
    expect(rows[0].decryption_permissions).toEqual({ agents: 'deny' });
    await B.page
      .locator('.messages li', { hasText: secrets.hidden })
      .locator('.tag-hidden', { hasText: 'Hidden from agents' })
      .waitFor();
  });

  it('shows @claude queued, using a tool, then its reply marked as the agent’s and verified', async () => {
    const { page } = A;
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
    await send(page, '@claude what did Bob say?');
    await page.getByText('@claude is using read_messages…').waitFor({ timeout: 30_000 });
    await screenshot(page, 'agents-desktop-status');
    release();
    const reply = page.locator('.messages li[data-agent="claude"]');
    await reply.getByText(secrets.reply).waitFor({ timeout: 30_000 });
    expect(await reply.getAttribute('data-status')).toBe('ok');
    await reply.getByText('✓ Verified: signed by the pinned gateway key').waitFor();
    await reply.getByText('agent · on your behalf').waitFor();
    await page.getByText('✓ @claude replied').waitFor();
    const seen = await seenAttr(page, '__runs');
    expect(seen).toContain('tool');
    expect(seen[seen.length - 1]).toBe('done');
    await screenshot(page, 'agents-desktop-reply');
    // The model saw the decrypted context, but not the message hidden from agents.
    const asked = requestText(t.standin.requests[before]!);
    expect(asked).toContain(secrets.bob);
    expect(asked).not.toContain(secrets.hidden);
  });

  it('shows Bob the reply as the agent’s, verified, and a reply signed by another key as not verified', async () => {
    const { page } = B;
    const reply = page.locator('.messages li[data-agent="claude"]', { hasText: secrets.reply });
    await reply.waitFor({ timeout: 15_000 });
    await reply.getByText('✓ Verified: signed by the pinned gateway key').waitFor();
    await reply.getByText('agent · for Alice').waitFor();
    await reply.scrollIntoViewIfNeeded();
    await screenshot(page, 'agents-mobile-bob-verified');
    expect(await fitsWidth(page)).toBe(true);

    // Someone with the chat key (a member, or a server holding a stolen grant) forges a reply
    // "from claude" signed by a key that is not the pinned gateway key.
    const { rows } = await t.db.pool.query<{ epoch: number; id: string; sender_id: string }>(
      `SELECT m.epoch, u.id, m.sender_id FROM messages m JOIN users u ON lower(u.email) = lower($2)
       WHERE m.chat_id = $1 ORDER BY m.seq DESC LIMIT 1`,
      [chatId, alice.email],
    );
    const epoch = rows[0]!.epoch;
    const aliceId = rows[0]!.id;
    const key = await aliceSdk.chats.key(chatId, epoch);
    const rogue = (await crypto.subtle.generateKey('Ed25519', false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const id = uuidv7();
    const chain = {
      chainId: new Uint8Array(randomBytes(CHAIN_ID_BYTES)),
      counter: 0,
      prev: new Uint8Array(MESSAGE_HASH_BYTES),
    };
    const forged = `Forged: the launch code changed ${run}`;
    const sealed = await sealMessage({
      chatKey: key,
      header: {
        messageId: id,
        sender: { kind: 'agent', agentName: 'claude', onBehalfOf: aliceId },
        chain,
        mentions: [],
        decryptionPermissions: {},
      },
      body: { text: forged, replyTo: null, attachments: [] },
      signingKey: rogue.privateKey,
    });
    await t.db.pool.query(
      `WITH bumped AS (UPDATE chats SET last_seq = last_seq + 1 WHERE id = $2 RETURNING last_seq)
       INSERT INTO messages (id, chat_id, sender_id, seq, epoch, encryption_key_id, encrypted_content,
         signature, mentions, decryption_permissions, encryption_version, created_at_encrypted,
         chain_id, chain_counter, chain_prev, sender_agent)
       SELECT $1, $2, $3, b.last_seq, $4, e.id, $5, $6, '{}', '{}', 1, true, $7, 0, $8, 'claude'
       FROM bumped b JOIN chat_epochs e ON e.chat_id = $2 AND e.epoch = $4`,
      [
        id,
        chatId,
        aliceId,
        epoch,
        Buffer.from(sealed.encryptedContent),
        Buffer.from(sealed.signature),
        Buffer.from(chain.chainId),
        Buffer.from(chain.prev),
      ],
    );
    await page.reload();
    await page.getByLabel('Passphrase').fill(bob.passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('button', { name: /^Alice/ }).click({ timeout: 60_000 });
    const bad = page.locator(`.messages li[data-id="${id}"]`);
    await bad.waitFor({ timeout: 15_000 });
    expect(await bad.getAttribute('data-status')).toBe('rejected');
    expect(await bad.textContent()).toContain('Unverified (claims to be @claude)');
    expect(await bad.textContent()).toContain('Not verified');
    expect(await bad.textContent()).not.toContain(forged);
    // The real reply still verifies on the reloaded page.
    await page
      .locator('.messages li[data-agent="claude"][data-status="ok"]', { hasText: secrets.reply })
      .waitFor();
    await bad.scrollIntoViewIfNeeded();
    await screenshot(page, 'agents-mobile-bob-forged');
  });

  it('after the grant is revoked, a new mention ends "no grant" with the way to grant it', async () => {
    const { page } = A;
    const [grant] = (await aliceSdk.agents.grants('claude')).filter((g) => g.resourceId === chatId);
    await aliceSdk.agents.revokeGrant(grant!.grantId);
    const before = t.standin.requests.length;
    const box = page.getByLabel('Message', { exact: true });
    // The composer already says so while typing (the revoke rotated the chat's key).
    await box.fill('@claude are you still there?');
    const hint = page.locator('.composer .hint', { hasText: '@claude has no grant for this chat' });
    await hint.waitFor({ timeout: 15_000 });
    expect(await hint.getByRole('link').getAttribute('href')).toBe(
      `#/agents?chat=${chatId}&agent=claude`,
    );
    await box.press('Enter');
    const failed = page.locator('.agent-run[data-run-status="failed"]');
    await failed.waitFor({ timeout: 30_000 });
    expect(await failed.textContent()).toContain(
      '@claude could not answer: no grant for this chat',
    );
    const link = failed.getByRole('link', { name: 'Grant it on the Agents page' });
    expect(await link.getAttribute('href')).toBe(`#/agents?chat=${chatId}&agent=claude`);
    expect(t.standin.requests.length).toBe(before);
    await failed.scrollIntoViewIfNeeded();
    await screenshot(page, 'agents-desktop-no-grant');
    // Bob sees the failure, without a link to someone else's grants.
    const bobsView = B.page.locator('.agent-run[data-run-status="failed"]');
    await bobsView.waitFor({ timeout: 15_000 });
    expect(await bobsView.getByRole('link').count()).toBe(0);
  });

  it('lists the accesses on the Audit page with the chain verified here, filters them and exports', async () => {
    const { page } = A;
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    // Sealing runs in the worker: check again until the newest rows are sealed too.
    const summary = await waitForVerifiedChain(page);
    expect(await summary.getAttribute('data-chain')).toBe('verified');
    expect(await summary.textContent()).toContain('Hash chain verified on this device');
    const rows = page.locator('.audit-table tbody tr');
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    // Named on this device: the server only knows the chat's id.
    expect(texts.some((r) => r.includes('read_messages') && r.includes('Chat: Bob'))).toBe(true);
    expect(texts.some((r) => r.includes('Allowed'))).toBe(true);
    expect(texts.some((r) => r.includes('Denied'))).toBe(true);
    await page.getByRole('button', { name: 'Check again' }).click();
    await page.locator('.audit-table tbody tr[data-chain="sealed"]').first().waitFor();
    await screenshot(page, 'agents-desktop-audit');

    await page.getByLabel('Outcome').selectOption('denied');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.audit-table tbody tr')].every(
        (r) => r.getAttribute('data-outcome') === 'denied',
      ),
    );
    expect(await rows.count()).toBeGreaterThan(0);
    await page.getByLabel('Agent').selectOption('claude');
    await page.getByLabel('Resource').selectOption({ label: 'Chat: Bob' });
    expect(await rows.count()).toBeGreaterThan(0);
    await screenshot(page, 'agents-desktop-audit-filtered');

    const [ndjson] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download signed export (JSON lines)' }).click(),
    ]);
    const exported = await readFile((await ndjson.path())!, 'utf8');
    const gw = await aliceSdk.agents.gateway();
    const verdict = await verifyAuditExport(exported, gw.ed25519PublicKey);
    expect(verdict.ok).toBe(true);
    expect(verdict.rows).toBeGreaterThan(2);
    const [csv] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download these rows (CSV)' }).click(),
    ]);
    const table = await readFile((await csv.path())!, 'utf8');
    const lines = table.trim().split('\r\n');
    expect(lines[0]).toBe(
      'time,agent,tool,resource type,resource,resource id,outcome,reason,decrypted,items,chain,request id',
    );
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.slice(1).every((l) => l.includes(',claude,') && l.includes('denied'))).toBe(true);
    expect(table).toContain('Chat: Bob');
  });

  it('connects GitHub on its page and shows a signed push deploying to success live, with a note in the chat', async () => {
    const { page } = A;
    // The github agent posts deploy notes: Alice lets it write this chat (SDK, like claude).
    await aliceSdk.agents.setPermission({
      agentName: 'github',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    await aliceSdk.agents.grantChat(chatId, 'github');
    const token = `ghp_${randomBytes(18).toString('hex')}`;
    t.github.addToken(token, { id: 4242, login: 'octocat' });
    t.github.repos.push({ ...EXAMPLE_REPO });

    await page.getByRole('link', { name: 'GitHub' }).click();
    await page.getByRole('heading', { name: 'GitHub deploys' }).waitFor();
    await page.getByText('No GitHub account connected yet.').waitFor();
    // A token GitHub refuses gets a clear answer and changes nothing.
    await page.getByLabel('Personal access token').fill(`ghp_${'x'.repeat(36)}`);
    await page.getByRole('button', { name: 'Connect token' }).click();
    await page
      .getByRole('alert')
      .getByText(/GitHub refused the token/)
      .waitFor();
    await page.getByLabel('Personal access token').fill(token);
    await page.getByRole('button', { name: 'Connect token' }).click();
    const setup = page.getByTestId('webhook-setup');
    await setup.waitFor({ timeout: 15_000 });
    const secret = (await page.getByTestId('webhook-secret').textContent()) ?? '';
    const hookUrl = (await page.getByTestId('webhook-url').textContent()) ?? '';
    const integrationId = hookUrl.split('/').pop() ?? '';
    expect(secret.length).toBeGreaterThan(20);
    await screenshot(page, 'agents-desktop-github-connected');

    await page
      .getByLabel('Repository (owner/name)')
      .fill(`${EXAMPLE_REPO.owner}/${EXAMPLE_REPO.name}`);
    await page.getByLabel('Deploy branch').fill('master');
    await page.getByLabel('Call a deploy hook URL (signed)').check();
    await page.getByLabel('Deploy hook URL', { exact: true }).fill(hook.url);
    await page.getByLabel('Post deploy notes in').selectOption({ label: 'Bob' });
    await page.getByRole('button', { name: 'Connect repository' }).click();
    const card = page.locator(`.gh-repo[data-repo="${EXAMPLE_REPO.owner}/${EXAMPLE_REPO.name}"]`);
    await card.waitFor({ timeout: 15_000 });
    expect(await card.getByRole('switch').isChecked()).toBe(true);

    // The switch turns auto-deploy off on the server, and back on.
    await card.getByRole('switch').uncheck();
    await page.waitForFunction(
      () => !(document.querySelector('.gh-repo [role=switch]') as HTMLInputElement).checked,
    );
    const off = await deliver(
      t.server.url,
      integrationId,
      'push',
      pushPayload('refs/heads/master'),
      {
        secret,
      },
    );
    expect(((await off.json()) as { outcome: string }).outcome).toBe('ignored');
    await card.getByRole('switch').check();
    await page.waitForFunction(
      () => (document.querySelector('.gh-repo [role=switch]') as HTMLInputElement).checked,
    );

    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    hook.set(async () => {
      await held;
      return 200;
    });
    await recordAttr(page, 'data-state', '__deploys');
    const sha = newSha();
    const res = await deliver(
      t.server.url,
      integrationId,
      'push',
      pushPayload('refs/heads/master', { after: sha }),
      { secret },
    );
    expect(res.status).toBe(202);
    const row = card.locator(`tr[data-sha="${sha}"]`);
    await row.getByText('In progress').waitFor({ timeout: 30_000 });
    await screenshot(page, 'agents-desktop-github-in-progress');
    release();
    await row.getByText('Success').waitFor({ timeout: 30_000 });
    const states = await seenAttr(page, '__deploys');
    expect(states).toContain('in_progress');
    expect(states[states.length - 1]).toBe('success');
    await screenshot(page, 'agents-desktop-github');

    // Rollback needs an earlier good deploy: a second push succeeds, then roll back to the first.
    hook.set(async () => 200);
    const sha2 = newSha();
    await deliver(
      t.server.url,
      integrationId,
      'push',
      pushPayload('refs/heads/master', { after: sha2 }),
      {
        secret,
      },
    );
    await card.locator(`tr[data-sha="${sha2}"]`).getByText('Success').waitFor({ timeout: 30_000 });
    await card.getByRole('button', { name: 'Roll back to the previous good deploy' }).click();
    const rolled = card.locator(`tr[data-sha="${sha}"]`, { hasText: 'rollback' });
    await rolled.getByText('Success').waitFor({ timeout: 30_000 });

    // The note reached the chat, from the github agent, verified.
    await page.getByRole('link', { name: 'Chats' }).click();
    await page.getByRole('button', { name: /^Bob/ }).click();
    const note = page.locator('.messages li[data-agent="github"][data-status="ok"]').first();
    await note.waitFor({ timeout: 30_000 });
    expect(await note.textContent()).toContain('✓ Verified');
    await note.scrollIntoViewIfNeeded();
    await screenshot(page, 'agents-desktop-deploy-note');
    await B.page
      .locator('.messages li[data-agent="github"][data-status="ok"]')
      .first()
      .waitFor({ timeout: 30_000 });
  });

  it('fits 360 px on the Audit and GitHub pages, and broke no CSP rule', async () => {
    const { page } = B;
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.locator('.chain-summary[data-chain]').waitFor();
    await screenshot(page, 'agents-mobile-audit');
    expect(await fitsWidth(page)).toBe(true);
    await page.getByRole('link', { name: 'GitHub' }).click();
    await page.getByRole('heading', { name: 'GitHub deploys' }).waitFor();
    await screenshot(page, 'agents-mobile-github');
    expect(await fitsWidth(page)).toBe(true);
    for (const p of people) {
      expect(p.traffic.pageErrors).toEqual([]);
      expect(await cspViolations(p.page)).toEqual([]);
    }
  });
});
