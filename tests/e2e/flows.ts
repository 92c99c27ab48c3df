import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { screenshot as save } from './browser.ts';

/** Saves the picture and checks nothing sticks out sideways (the 360 px layouts). */
async function screenshot(page: Page, name: string): Promise<void> {
  await save(page, name);
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  expect(scroll, `${name} overflows sideways`).toBeLessThanOrEqual(width);
}

const SLOW = { timeout: 60_000 };

/** Signs up, reads the phrase off the page, answers the three-word check. Returns the phrase. */
export async function signUp(
  page: Page,
  who: { email: string; name: string; passphrase: string },
  shots?: string,
  opts: { wrongWordFirst?: boolean } = {},
): Promise<string> {
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Display name').fill(who.name);
  await page.getByLabel('Passphrase', { exact: true }).fill(who.passphrase);
  await page.getByLabel('Passphrase again').fill(who.passphrase);
  if (shots) await screenshot(page, `${shots}-signup`);
  await page.getByRole('button', { name: 'Create account' }).click();
  if (shots) {
    // Argon2id runs in a worker: the page stays live and shows its progress meanwhile.
    const progress = page.getByRole('status').filter({ hasText: 'Deriving your keys' });
    if (
      await progress.waitFor({ timeout: 5_000 }).then(
        () => true,
        () => false,
      )
    )
      await screenshot(page, `${shots}-deriving`);
  }
  const phraseList = page.getByTestId('recovery-phrase');
  await phraseList.waitFor(SLOW);
  const words = await phraseList.locator('li').allTextContents();
  if (shots) await screenshot(page, `${shots}-phrase`);
  await page.getByLabel('I have written down all 24 words').check();
  await page.getByRole('button', { name: 'Continue' }).click();
  const inputs = page.locator('input[data-position]');
  await inputs.first().waitFor();
  if (opts.wrongWordFirst) {
    // A wrong word is refused with a clear message, and nothing is uploaded.
    for (const input of await inputs.all()) await input.fill('wrong');
    await page.getByRole('button', { name: 'Finish setup' }).click();
    await page
      .getByRole('alert')
      .getByText('The words do not match the recovery phrase.')
      .waitFor();
    if (shots) await screenshot(page, `${shots}-confirm-error`);
  }
  for (const input of await inputs.all()) {
    const position = Number(await input.getAttribute('data-position'));
    await input.fill(words[position - 1] ?? '');
  }
  if (shots) await screenshot(page, `${shots}-confirm`);
  await page.getByRole('button', { name: 'Finish setup' }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor(SLOW);
  await page.getByText('Live', { exact: true }).waitFor();
  return words.join(' ');
}

export async function signIn(page: Page, email: string, passphrase: string, shots?: string) {
  await page.goto('/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Passphrase').fill(passphrase);
  if (shots) await screenshot(page, `${shots}-signin`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor(SLOW);
}

export async function recover(
  page: Page,
  email: string,
  phrase: string,
  newPassphrase: string,
  shots?: string,
) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Forgot your passphrase?' }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Recovery phrase (24 words)').fill(phrase);
  await page.getByLabel('New passphrase', { exact: true }).fill(newPassphrase);
  await page.getByLabel('New passphrase again').fill(newPassphrase);
  if (shots) await screenshot(page, `${shots}-recover`);
  await page.getByRole('button', { name: 'Recover and set passphrase' }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor(SLOW);
}

export async function createDirectChat(page: Page, email: string) {
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.getByLabel('Their email').fill(email);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.locator('#chat-title').waitFor();
}

export async function send(page: Page, text: string) {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

/** The texts of the messages shown, in order. */
export function shownTexts(page: Page): Promise<string[]> {
  return page.locator('.messages li[data-seq] .msg-body').allTextContents();
}

export async function waitForText(page: Page, text: string) {
  await page.locator('.messages .msg-body', { hasText: text }).first().waitFor({ timeout: 15_000 });
}

/**
 * Records every value `attr` takes on the page from now on, under `window[name]` (live states
 * such as a run's "queued" or a deploy's "in_progress" can pass between two polls).
 */
export async function recordAttr(page: Page, attr: string, name: string) {
  await page.evaluate(
    ({ attr, name }) => {
      const w = window as unknown as Record<string, string[]>;
      const seen: string[] = [];
      w[name] = seen;
      const note = (el: Element) => {
        const v = el.getAttribute(attr);
        if (v && seen[seen.length - 1] !== v) seen.push(v);
      };
      document.querySelectorAll(`[${attr}]`).forEach(note);
      new MutationObserver((records) => {
        for (const r of records) {
          if (r.type === 'attributes') note(r.target as Element);
          for (const n of r.addedNodes)
            if (n instanceof Element) {
              if (n.hasAttribute(attr)) note(n);
              n.querySelectorAll(`[${attr}]`).forEach(note);
            }
        }
      }).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: [attr],
      });
    },
    { attr, name },
  );
}

/** What `recordAttr` saw so far. */
export const seenAttr = (page: Page, name: string) =>
  page.evaluate((n) => (window as unknown as Record<string, string[]>)[n] ?? [], name);

/**
 * On the Audit page: checks again until the chain summary reads verified with nothing left
 * waiting for a seal (sealing runs in the worker), up to ~20 s. Returns the summary's locator.
 */
export async function waitForVerifiedChain(page: Page) {
  const summary = page.locator('.chain-summary');
  const again = page.getByRole('button', { name: 'Check again' });
  for (let i = 0; i < 40; i++) {
    await again.waitFor();
    const txt = (await summary.textContent()) ?? '';
    if ((await summary.getAttribute('data-chain')) === 'verified' && !txt.includes('waiting'))
      break;
    await page.waitForTimeout(500);
    await again.click();
  }
  return summary;
}
