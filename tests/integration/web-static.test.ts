import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onError } from '../../src/http/problem.ts';
import { ensureWebBundle, WEB_SRC_DIR, type WebManifest } from '../../src/web/build.ts';
import { PAGE_CSP, WORKER_CSP, webRoutes } from '../../src/web/static.routes.ts';
import { silentLogger, useTestServer } from '../helpers/app.ts';

describe('serving the web app', () => {
  const t = useTestServer();
  let manifest: WebManifest;
  let scratch: string;

  beforeAll(async () => {
    manifest = (await ensureWebBundle()).manifest;
    scratch = await mkdtemp(path.join(tmpdir(), 'vutler-web-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('serves the page and its hashed assets with the strict policy', async () => {
    const page = await fetch(`${t.server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toContain(`/assets/${manifest.app}`);
    expect(html).not.toMatch(/https?:\/\//);
    const app = await fetch(`${t.server.url}/assets/${manifest.app}`);
    expect(app.status).toBe(200);
    expect(app.headers.get('content-type')).toContain('text/javascript');
    expect(app.headers.get('cache-control')).toContain('immutable');
    const worker = await fetch(`${t.server.url}/assets/${manifest.worker}`);
    expect(worker.headers.get('content-security-policy')).toBe(WORKER_CSP);
    expect(PAGE_CSP).not.toContain('wasm-unsafe-eval');
  });

  it('answers 404 problem+json for files that are not in the bundle', async () => {
    for (const p of ['/assets/nope.js', '/assets/..%2Fmanifest.json', '/manifest.json']) {
      const res = await fetch(`${t.server.url}${p}`);
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('says how to build it when there is no bundle, instead of a blank page', async () => {
    const app = new Hono();
    app.route('/', webRoutes(path.join(scratch, 'missing')));
    app.onError(onError(silentLogger));
    const res = await app.request('/');
    expect(res.status).toBe(503);
    expect((await res.json()).detail).toContain('npm run build:web');
  });

  it('rebuilds only when a source changed', async () => {
    const out = path.join(scratch, 'dist');
    expect((await ensureWebBundle(out)).built).toBe(true);
    expect((await ensureWebBundle(out)).built).toBe(false);
    const source = path.join(WEB_SRC_DIR, 'lib', 'store.ts');
    const later = new Date(Date.now() + 5_000);
    await utimes(source, later, later);
    expect((await ensureWebBundle(out)).built).toBe(true);
  });
});
