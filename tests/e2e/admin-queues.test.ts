import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { launch, OUTPUT_DIR } from './browser.ts';

const ADMIN = 'admin-token-e2e-0123456789abcdef';

describe('Bull Board in Chromium', () => {
  const ctx = useTestServer({ VUTLER_ADMIN_TOKEN: ADMIN });
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(() => browser?.close());

  it('renders every queue under the admin CSP, with Basic credentials and no page errors', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: ADMIN },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    const failed: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(`${ctx.server.url}/admin/queues`);
    for (const name of ['agent-runs', 'deploys'])
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 20_000 });
    await mkdir(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'admin-queues.png'), fullPage: true });
    // Only the web fonts Bull Board links from Google are refused (no third-party requests).
    const own = (u: string) => u.startsWith(ctx.server.url);
    expect(failed.filter(own)).toEqual([]);
    expect(errors.filter((e) => !/fonts\.googleapis\.com/.test(e))).toEqual([]);
    await context.close();
  });
});
