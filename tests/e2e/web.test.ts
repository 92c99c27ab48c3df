import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIdentity, identityPublicToJson } from '../../src/crypto/identity.ts';
import { ensureWebBundle } from '../../src/web/build.ts';
import { PAGE_CSP } from '../../src/web/static.routes.ts';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';
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
  recover,
  send,
  shownTexts,
  signIn,
  signUp,
  waitForText,
} from './flows.ts';

const run = randomBytes(4).toString('hex');
const alice = {
  email: `alice-${run}@example.test`,
  name: 'Alice',
  passphrase: `alice correct horse ${run}`,
};
const bob = {
  email: `bob-${run}@example.test`,
  name: 'Bob',
  passphrase: `bob battery staple ${run}`,
};
// File names are secrets too: only their encrypted metadata may leave the page.
const files = {
  big: `quarterly-${run}-report.bin`,
  image: `holiday-${run}-photo.png`,
  paused: `minutes-${run}-draft.txt`,
};
const bigFile = randomBytes(5 * 1024 * 1024);
const aliceNewPassphrase = `alice recovered ${run} staple`;
// Distinct, searchable bodies: the network check looks for each of them in every request.
const texts = {
  hello: `Hello Bob, secret-${run}-1`,
  reply: `Hi Alice, secret-${run}-2`,
  missed1: `While you were away secret-${run}-3`,
  missed2: `Second line secret-${run}-4\nwith a newline`,
  tampered: `This one gets tampered secret-${run}-5`,
  composed: `Line one secret-${run}-6\nline two @claude please`,
  group: `Group hello secret-${run}-7`,
  afterRemoval: `Carol cannot read this secret-${run}-8`,
};

describe('the web app in Chromium', () => {
  const ctx = useTestServer();
  let browser: Browser;
  const people: Person[] = [];
  let A: Person;
  let B: Person;
  let phrase = '';

  beforeAll(async () => {
    await ensureWebBundle();
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  // A failed step leaves a picture of every open page behind, and what their consoles said.
  afterEach(async (t) => {
    if (t.task.result?.state !== 'fail') return;
    for (const [i, p] of people.entries()) {
      await screenshot(p.page, `failure-${t.task.name.slice(0, 30)}-${i}`).catch(() => undefined);
      console.log(`person ${i} console:`, p.traffic.console.slice(-15));
      console.log(`person ${i} socket:\n${p.traffic.wsLog.slice(-30).join('\n')}`);
    }
  });

  it('serves the page with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${ctx.server.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(PAGE_CSP);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|\sstyle=|\son\w+=/);
  });

  it('can be used from the keyboard alone, with a visible focus ring', async () => {
    const p = await openPerson(browser, ctx.server.url);
    people.push(p);
    await p.page.goto('/');
    await p.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const reached: string[] = [];
    for (let i = 0; i < 5; i++) {
      await p.page.keyboard.press('Tab');
      reached.push(
        await p.page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          const label = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : '';
          const ring = getComputedStyle(el).outlineStyle;
          return `${label || el.textContent?.trim()}|${ring}`;
        }),
      );
    }
    expect(reached).toEqual([
      'Email|solid',
      'Passphrase|solid',
      'Sign in|solid',
      'Create an account|solid',
      'Forgot your passphrase?|solid',
    ]);
    // Enter on a focused link-button switches screens and moves focus to the new title.
    await p.page.keyboard.press('Enter');
    await p.page.getByRole('heading', { name: 'Recover your account' }).waitFor();
    // Focus moves in an effect after the render: wait for it (the machine may be loaded).
    await p.page.waitForFunction(() => document.activeElement?.tagName === 'H1', undefined, {
      timeout: 5_000,
    });
    await p.context.close();
    people.pop();
  });

  it('signs up two people, each setting up E2E with the phrase check', async () => {
    A = await openPerson(browser, ctx.server.url);
    B = await openPerson(browser, ctx.server.url, { width: 360, height: 760 });
    people.push(A, B);
    phrase = await signUp(A.page, alice, 'desktop');
    await signUp(B.page, bob, 'mobile-360', { wrongWordFirst: true });
    expect(phrase.split(' ')).toHaveLength(24);
  });

  it('lets Alice start a chat with Bob by email and talk live both ways', async () => {
    // An address nobody (E2E-ready) has gets a plain explanation, not a blank or a stack.
    await A.page.getByRole('button', { name: 'New chat' }).click();
    await A.page.getByLabel('Their email').fill(`nobody-${run}@example.test`);
    await A.page.getByRole('button', { name: 'Start chat' }).click();
    await A.page
      .getByRole('alert')
      .getByText(/No one with encryption set up uses/)
      .waitFor();
    await screenshot(A.page, 'desktop-new-chat-error');
    await A.page.getByRole('button', { name: 'Cancel' }).click();
    await createDirectChat(A.page, bob.email);
    await send(A.page, texts.hello);
    await waitForText(A.page, texts.hello);
    // Bob's list learns of the chat over the socket, with one unread message.
    const item = B.page.getByRole('button', { name: /Alice/ });
    await item.waitFor({ timeout: 15_000 });
    await B.page.locator('.unread', { hasText: '1' }).waitFor({ timeout: 15_000 });
    await B.page.locator('.chat-item-preview', { hasText: `Alice: ${texts.hello}` }).waitFor();
    expect(await B.page.title()).toBe('(1) Vutler');
    await screenshot(B.page, 'mobile-360-chat-list');
    await item.click();
    await waitForText(B.page, texts.hello);
    // Typing reaches the other side before the message does.
    await B.page.getByLabel('Message', { exact: true }).pressSequentially('Hi');
    await A.page.getByText('Bob is typing…').waitFor({ timeout: 10_000 });
    await send(B.page, texts.reply);
    await waitForText(A.page, texts.reply);
    await screenshot(A.page, 'desktop-chat');
    await screenshot(B.page, 'mobile-360-chat');
    expect(await fitsWidth(B.page)).toBe(true);
    expect(await shownTexts(A.page)).toEqual([texts.hello, texts.reply]);
  });

  it('composes with Shift+Enter for new lines and @ for agents, and records the mention', async () => {
    const box = A.page.getByLabel('Message', { exact: true });
    await box.pressSequentially(`Line one secret-${run}-6`);
    await box.press('Shift+Enter');
    await box.pressSequentially('line two @cl');
    await A.page.getByRole('option', { name: '@claude' }).waitFor();
    await screenshot(A.page, 'desktop-mention');
    await box.press('Enter');
    expect(await box.inputValue()).toBe(`Line one secret-${run}-6\nline two @claude `);
    await box.pressSequentially('please');
    await box.press('Enter');
    await waitForText(B.page, 'line two @claude please');
    const { rows } = await ctx.db.pool.query<{ mentions: string[] }>(
      'SELECT mentions FROM messages ORDER BY created_at DESC LIMIT 1',
    );
    expect(rows[0]?.mentions).toEqual(['claude']);
  });

  it('shows the same safety number on both sides and marks it verified', async () => {
    const read = async (p: Person) => {
      await p.page.getByRole('button', { name: /Members/ }).click();
      await p.page.getByRole('button', { name: 'Compare safety number' }).click();
      return (await p.page.locator('.digits span').allTextContents()).join(' ');
    };
    const [na, nb] = [await read(A), await read(B)];
    expect(na).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(na).toBe(nb);
    await A.page.getByRole('button', { name: 'Mark as verified' }).click();
    await A.page.getByText('✓ Verified').waitFor();
    await screenshot(A.page, 'desktop-members');
    await screenshot(B.page, 'mobile-360-members');
    expect(await fitsWidth(B.page)).toBe(true);
    await A.page.getByRole('button', { name: /Members/ }).click();
    await B.page.getByRole('button', { name: /Members/ }).click();
  });

  it('gives Bob what he missed while offline, once each', async () => {
    await B.context.setOffline(true);
    await B.page.getByText('Offline — reconnecting').waitFor({ timeout: 10_000 });
    await send(A.page, texts.missed1);
    await send(A.page, texts.missed2);
    await waitForText(A.page, 'Second line');
    await B.context.setOffline(false);
    await waitForText(B.page, 'Second line');
    await B.page.getByText('Live', { exact: true }).waitFor({ timeout: 10_000 });
    await send(A.page, texts.tampered);
    await waitForText(B.page, texts.tampered);
    expect(await shownTexts(B.page)).toEqual([
      texts.hello,
      texts.reply,
      texts.composed,
      texts.missed1,
      texts.missed2,
      texts.tampered,
    ]);
  });

  it('shows a message whose signature was altered as failing verification, not as text', async () => {
    // The server (or anyone with the database) flips one bit of the last message's signature.
    await ctx.db.pool.query(
      `UPDATE messages SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1)
       WHERE seq = (SELECT max(seq) FROM messages)`,
    );
    const C = await openPerson(browser, ctx.server.url);
    people.push(C);
    await signIn(C.page, alice.email, alice.passphrase, 'desktop');
    await C.page.getByRole('button', { name: /Bob/ }).click();
    await waitForText(C.page, texts.missed1);
    const texts3 = await shownTexts(C.page);
    expect(texts3.slice(0, 5)).toEqual([
      texts.hello,
      texts.reply,
      texts.composed,
      texts.missed1,
      texts.missed2,
    ]);
    const last = C.page.locator('.messages li[data-seq]').last();
    expect(await last.getAttribute('data-status')).toBe('rejected');
    expect(await last.textContent()).toContain('Failed verification');
    expect(await last.textContent()).not.toContain(texts.tampered);
    await screenshot(C.page, 'desktop-new-device-history');
  });

  it('uploads 5 MiB with a progress bar, resumes it after a reload, and downloads it decrypted', async () => {
    const { page } = A;
    await page.getByRole('button', { name: 'Files' }).click();
    await page.getByRole('heading', { name: 'Files' }).waitFor();
    await page.getByText('No files yet.').waitFor();
    // Every value the progress bar takes, to show it moved rather than jumped to the end.
    await page.evaluate(() => {
      const w = window as unknown as { __progress: number[] };
      w.__progress = [];
      new MutationObserver((records) => {
        for (const r of records) {
          const el = r.target as HTMLProgressElement;
          if (el.tagName === 'PROGRESS') w.__progress.push(el.value / el.max);
        }
      }).observe(document.body, { attributes: true, attributeFilter: ['value'], subtree: true });
    });
    // The network drops after two of the five chunks: the upload stops, resumable.
    let chunks = 0;
    await page.route('**/api/files/*/chunks/*', async (route) => {
      if (++chunks <= 2) await route.continue();
      else await route.abort('internetdisconnected');
    });
    await page.locator('#drive-picker').setInputFiles({
      name: files.big,
      mimeType: 'application/octet-stream',
      buffer: bigFile,
    });
    await page.locator('.upload-failed', { hasText: files.big }).waitFor({ timeout: 30_000 });
    await page.unroute('**/api/files/*/chunks/*');
    const seen = await page.evaluate(
      () => (window as unknown as { __progress: number[] }).__progress,
    );
    expect(seen.some((v) => v > 0 && v < 1)).toBe(true);

    // After a reload the page no longer has the bytes: it lists the upload and asks for the file.
    await page.reload();
    await page.getByLabel('Passphrase').fill(alice.passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('heading', { name: 'Chats' }).waitFor({ timeout: 60_000 });
    // Pins (and the verification made earlier) came back from IndexedDB, not localStorage.
    const stored = await page.evaluate(async () => ({
      dbs: (await indexedDB.databases()).map((d) => d.name),
      local: Object.keys(localStorage).filter((k) => k.includes('trust')),
    }));
    expect(stored).toEqual({ dbs: ['vutler-keystore'], local: [] });
    await page.getByRole('button', { name: /^Bob/ }).click();
    await page.getByRole('button', { name: /Members/ }).click();
    await page.getByText('✓ Verified').waitFor();
    await page.getByRole('button', { name: /Members/ }).click();
    await page.getByRole('button', { name: 'Files' }).click();
    const paused = page.locator('.upload', { hasText: files.big });
    await paused.getByRole('button', { name: /pick the file again/ }).waitFor({ timeout: 15_000 });
    expect(await paused.textContent()).toContain('Paused');
    const before = chunks;
    await paused.locator('input[type=file]').setInputFiles({
      name: files.big,
      mimeType: 'application/octet-stream',
      buffer: bigFile,
    });
    await page.locator('.file-row', { hasText: files.big }).waitFor({ timeout: 60_000 });
    expect(await paused.count()).toBe(0);
    expect(before).toBeGreaterThan(2);
    const { rows } = await ctx.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM files WHERE status = 'ready' AND owner_id = (SELECT id FROM users WHERE lower(email) = lower($1))",
      [alice.email],
    );
    expect(rows[0]?.n).toBe(1);
    const listed = page.locator('.file-row', { hasText: files.big });
    await listed.getByText('5.0 MiB').waitFor();

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      listed.getByRole('button', { name: `Download ${files.big}` }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(files.big);
    const got = await readFile((await download.path())!);
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    expect(sha(got)).toBe(sha(bigFile));

    // Pause while chunks are held in flight, then resume on the same page with the bytes it has.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let first = true;
    await page.route('**/api/files/*/chunks/*', async (route) => {
      if (first) {
        first = false;
        return route.continue();
      }
      await held;
      await route.continue().catch(() => undefined); // the page aborted it meanwhile
    });
    await page.locator('#drive-picker').setInputFiles({
      name: files.paused,
      mimeType: 'text/plain',
      buffer: Buffer.from(`minutes ${run}\n`.repeat(150_000)),
    });
    const row = page.locator('.upload', { hasText: files.paused });
    await row.getByRole('button', { name: `Pause ${files.paused}` }).click();
    await row.getByText(/Paused at \d+%/).waitFor({ timeout: 15_000 });
    await page.unroute('**/api/files/*/chunks/*');
    release();
    await row.getByRole('button', { name: `Resume ${files.paused}` }).click();
    await page.locator('.file-row', { hasText: files.paused }).waitFor({ timeout: 60_000 });
  });

  it('drops an image, shares it preview-only, and Bob sees the thumbnail but cannot download it', async () => {
    const { page } = A;
    // A real PNG, drawn by the browser, dropped on the panel as a drag-and-drop would.
    const drop = await page.evaluateHandle(async (name) => {
      const canvas = new OffscreenCanvas(640, 400);
      const g = canvas.getContext('2d')!;
      g.fillStyle = '#1f5fbf';
      g.fillRect(0, 0, 640, 400);
      g.fillStyle = '#f59e0b';
      g.beginPath();
      g.arc(320, 200, 120, 0, Math.PI * 2);
      g.fill();
      const blob = await canvas.convertToBlob({ type: 'image/png' });
      const dt = new DataTransfer();
      dt.items.add(new File([blob], name, { type: 'image/png' }));
      return dt;
    }, files.image);
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: drop });
    const row = page.locator('.file-row', { hasText: files.image });
    await row.waitFor({ timeout: 30_000 });
    await screenshot(page, 'desktop-drive');
    await row.getByRole('button', { name: `Share ${files.image}` }).click();
    const form = page.getByRole('form', { name: `Share ${files.image}` });
    await form.getByLabel('Chat', { exact: true }).selectOption({ label: 'Bob' });
    await form.getByLabel('See the preview only').check();
    await form.getByLabel('Expires').selectOption('7');
    await screenshot(page, 'desktop-drive-share');
    await form.getByRole('button', { name: 'Share', exact: true }).click();
    await form.getByText('Shared: a file card is in the chat.').waitFor({ timeout: 15_000 });

    const card = B.page.locator('.file-card', { hasText: files.image });
    await card.waitFor({ timeout: 15_000 });
    const thumb = card.getByRole('img', { name: `Preview of ${files.image}` });
    await thumb.waitFor();
    await thumb.evaluate((img: HTMLImageElement) => img.decode());
    const size = await thumb.evaluate((img: HTMLImageElement) => [
      img.naturalWidth,
      img.naturalHeight,
    ]);
    expect(size).toEqual([256, 160]);
    await card.getByText('Preview only').waitFor();
    expect(await card.getByRole('button', { name: /Download/ }).count()).toBe(0);
    // And the server refuses the content to Bob even if asked directly.
    const { rows } = await ctx.db.pool.query<{ id: string }>(
      'SELECT id FROM vdrive_chat_shares ORDER BY created_at DESC LIMIT 1',
    );
    const status = await B.page.evaluate(
      async (id) => (await fetch(`/api/shares/${id}/content`)).status,
      rows[0]!.id,
    );
    expect(status).toBe(403);
    await card.scrollIntoViewIfNeeded();
    await screenshot(B.page, 'mobile-360-file-card');
    expect(await fitsWidth(B.page)).toBe(true);
    // Alice's own card offers nothing more than Bob's: the share is preview-only for everyone.
    await page.getByRole('button', { name: /^Bob/ }).click();
    const own = page.locator('.file-card', { hasText: files.image });
    await own.getByText('Preview only').waitFor();
    await own.getByRole('img').evaluate((img: HTMLImageElement) => img.decode());
    await own.scrollIntoViewIfNeeded();
    await screenshot(page, 'desktop-file-card');
    await page.getByRole('button', { name: 'Files' }).click();
    await page.getByRole('button', { name: `Share ${files.big}` }).waitFor();
    await screenshot(page, 'desktop-drive-list');
  });

  it('recovers Alice on a fourth browser with the phrase and a new passphrase', async () => {
    const D = await openPerson(browser, ctx.server.url, { width: 360, height: 760 });
    people.push(D);
    await recover(D.page, alice.email, phrase, aliceNewPassphrase, 'mobile-360');
    await D.page.getByRole('button', { name: /Bob/ }).click();
    await waitForText(D.page, texts.hello);
    expect((await shownTexts(D.page)).slice(0, 2)).toEqual([texts.hello, texts.reply]);
    // The old passphrase is dead, the new one works.
    const E = await openPerson(browser, ctx.server.url, undefined, 'dark');
    people.push(E);
    await E.page.goto('/');
    await E.page.getByLabel('Email').fill(alice.email);
    await E.page.getByLabel('Passphrase').fill(alice.passphrase);
    await E.page.getByRole('button', { name: 'Sign in' }).click();
    await E.page
      .getByRole('alert')
      .getByText('Wrong email or passphrase.')
      .waitFor({ timeout: 60_000 });
    await screenshot(E.page, 'desktop-signin-error');
    await signIn(E.page, alice.email, aliceNewPassphrase);
    // The first browser's session died with the passphrase change; its socket says so.
    await ctx.server.vutler.hub.revalidate();
    await A.page.getByText('Session ended').waitFor({ timeout: 10_000 });
    await A.page.getByRole('button', { name: 'Sign in again' }).waitFor();
    await screenshot(A.page, 'desktop-session-ended');
  });

  it("warns and blocks sending when a contact's identity key changes", async () => {
    const D = people[3]!;
    // A hostile server swaps Bob's public identity for another validly self-signed one.
    const { rows } = await ctx.db.pool.query<{ id: string }>(
      'SELECT id FROM users WHERE lower(email) = lower($1)',
      [bob.email],
    );
    const bobId = rows[0]!.id;
    const mk = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    const impostor = await createIdentity(mk, bobId);
    const original = await ctx.db.pool.query('SELECT identity_public FROM users WHERE id = $1', [
      bobId,
    ]);
    await ctx.db.pool.query('UPDATE users SET identity_public = $2 WHERE id = $1', [
      bobId,
      identityPublicToJson(impostor.publicIdentity),
    ]);
    await D.page.getByRole('button', { name: /Members/ }).click();
    await D.page.getByText("Bob's identity key is not the one this device saw before").waitFor();
    await D.page.getByText(/Sending is blocked/).waitFor();
    expect(await D.page.getByLabel('Message', { exact: true }).isDisabled()).toBe(true);
    await screenshot(D.page, 'mobile-360-identity-changed');
    expect(await fitsWidth(D.page)).toBe(true);
    await ctx.db.pool.query('UPDATE users SET identity_public = $2 WHERE id = $1', [
      bobId,
      original.rows[0].identity_public,
    ]);
  });

  it('creates a group by email and rotates the key when a member is removed', async () => {
    const E = people[4]!;
    const carol = await person(ctx.server.url, 'carol');
    await E.page.getByRole('button', { name: 'New chat' }).click();
    await E.page.getByLabel('Group').check();
    await E.page.getByLabel('Emails (separated by commas)').fill(`${bob.email}, ${carol.email}`);
    await E.page.getByRole('button', { name: 'Start chat' }).click();
    await E.page.locator('#chat-title', { hasText: /^Group: (Bob, carol|carol, Bob)$/ }).waitFor();
    await send(E.page, texts.group);
    await waitForText(E.page, texts.group);
    const { rows } = await ctx.db.pool.query<{ chat_id: string }>(
      'SELECT chat_id FROM chat_members WHERE user_id = $1',
      [carol.id],
    );
    const chatId = rows[0]!.chat_id;
    expect((await carol.client.chats.history(chatId)).map((m) => m.body?.text)).toEqual([
      texts.group,
    ]);
    // Deleting one's own message erases it for everyone.
    await send(E.page, `Oops secret-${run}-9`);
    await waitForText(E.page, 'Oops');
    const oops = E.page.locator('.messages li[data-seq]').last();
    await oops.getByRole('button', { name: 'Delete' }).click();
    await oops.getByRole('button', { name: 'Yes, delete' }).click();
    await E.page.locator('.messages li[data-status="deleted"]').waitFor();
    expect((await carol.client.chats.history(chatId)).map((m) => m.status)).toEqual([
      'ok',
      'deleted',
    ]);
    await E.page.getByRole('button', { name: /Members/ }).click();
    await E.page.getByRole('button', { name: 'Remove carol (rotates the chat key)' }).click();
    await E.page.getByRole('button', { name: 'Members (2)' }).waitFor();
    await E.page.locator('#chat-title', { hasText: /^Group: Bob$/ }).waitFor();
    await screenshot(E.page, 'desktop-group-members');
    await send(E.page, texts.afterRemoval);
    await waitForText(E.page, texts.afterRemoval);
    const epochs = await ctx.db.pool.query<{ epoch: number }>(
      'SELECT epoch FROM messages WHERE chat_id = $1 ORDER BY seq',
      [chatId],
    );
    expect(epochs.rows.map((r) => r.epoch)).toEqual([0, 0, 1]);
    await expect(carol.client.chats.history(chatId)).rejects.toMatchObject({ status: 404 });
  });

  it('asks for the passphrase again after a reload, without a new login', async () => {
    const { page, traffic } = B;
    await page.reload();
    await page.getByRole('heading', { name: 'Unlock your keys' }).waitFor();
    const before = traffic.requests.length;
    await page.getByLabel('Passphrase').fill('wrong passphrase entirely');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('alert').getByText('Wrong passphrase.').waitFor({ timeout: 60_000 });
    await screenshot(page, 'mobile-360-unlock-error');
    await page.getByLabel('Passphrase').fill(bob.passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('heading', { name: 'Chats' }).waitFor({ timeout: 60_000 });
    const logins = traffic.requests.slice(before).filter((r) => r.url.includes('/api/auth/login'));
    expect(logins).toEqual([]);
    await page.getByRole('button', { name: /^Alice/ }).click();
    await waitForText(page, texts.hello);
  });

  it('signs out clearing keys and storage, and the session is dead', async () => {
    const { page, context } = B;
    const before = await page.evaluate(() => localStorage.length);
    expect(before).toBeGreaterThan(0);
    const [session] = (await context.cookies()).filter((c) => c.name === 'vutler_session');
    expect(session).toBeDefined();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const left = await page.evaluate(async () => ({
      local: localStorage.length,
      session: sessionStorage.length,
      dbs: (await indexedDB.databases()).length,
    }));
    expect(left).toEqual({ local: 0, session: 0, dbs: 0 });
    const cookies = await context.cookies();
    expect(cookies.filter((c) => c.name === 'vutler_session')).toEqual([]);
    const replay = await fetch(`${ctx.server.url}/api/me`, {
      headers: { cookie: `vutler_session=${session!.value}` },
    });
    expect(replay.status).toBe(401);
  });

  it('never sent a passphrase, the phrase or a message body in clear, and broke no CSP rule', async () => {
    const secrets = [
      alice.passphrase,
      bob.passphrase,
      aliceNewPassphrase,
      phrase,
      phrase.split(' ').slice(0, 4).join(' '),
      ...Object.values(texts),
      ...Object.values(files),
      `secret-${run}`,
    ];
    let checked = 0;
    for (const p of people) {
      expect(p.traffic.requests.length).toBeGreaterThan(0);
      for (const r of p.traffic.requests) {
        const blob = `${decodeURIComponent(r.url)}\n${JSON.stringify(r.headers)}\n${r.body}`;
        for (const s of secrets) {
          expect(blob.includes(s), `${r.method} ${r.url} carries a secret`).toBe(false);
          expect(blob.includes(JSON.stringify(s).slice(1, -1))).toBe(false);
        }
        checked++;
      }
      for (const f of p.traffic.wsFrames)
        for (const s of secrets) expect(f.includes(s)).toBe(false);
      expect(p.traffic.pageErrors).toEqual([]);
      const csp = p.traffic.console.filter((m) =>
        /Content.Security.Policy|Refused to/i.test(m.text),
      );
      expect(csp).toEqual([]);
      expect(await cspViolations(p.page)).toEqual([]);
    }
    expect(checked).toBeGreaterThan(20);
  });
});
