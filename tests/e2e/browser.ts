import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const OUTPUT_DIR = path.resolve('test-results/e2e');

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
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
}

/** Everything a page sent, to prove no secret left it in clear. */
export interface Traffic {
  requests: { url: string; method: string; headers: Record<string, string>; body: string }[];
  wsFrames: string[];
  /** Socket lifecycle and frames received, for a failure's report. */
  wsLog: string[];
  console: { type: string; text: string }[];
  pageErrors: string[];
}

export interface Person {
  context: BrowserContext;
  page: Page;
  traffic: Traffic;
}

export async function openPerson(
  browser: Browser,
  baseURL: string,
  viewport = { width: 1280, height: 800 },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<Person> {
  const context = await browser.newContext({ baseURL, viewport, colorScheme });
  const traffic: Traffic = {
    requests: [],
    wsFrames: [],
    wsLog: [],
    console: [],
    pageErrors: [],
  };
  // Init scripts run outside the page's CSP, so this listener sees every violation.
  await context.addInitScript(() => {
    const w = window as unknown as { __cspViolations: string[] };
    w.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      w.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on('request', (r) => {
    traffic.requests.push({
      url: r.url(),
      method: r.method(),
      headers: r.headers(),
      body: r.postData() ?? '',
    });
  });
  const t0 = Date.now();
  const log = (s: string) => traffic.wsLog.push(`${Date.now() - t0} ms ${s.slice(0, 120)}`);
  page.on('websocket', (ws) => {
    log('open');
    ws.on('framesent', (f) => {
      traffic.wsFrames.push(String(f.payload));
      log(`sent ${f.payload}`);
    });
    ws.on('framereceived', (f) => log(`received ${f.payload}`));
    ws.on('socketerror', (e) => log(`error ${e}`));
    ws.on('close', () => log('close'));
  });
  page.on('console', (m) => traffic.console.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => traffic.pageErrors.push(e.message));
  return { context, page, traffic };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}.png`), fullPage: true });
}

/** Nothing on the page sticks out sideways (what breaks first at 360 px). */
export async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
}
