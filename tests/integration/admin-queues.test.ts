import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';

const ADMIN = 'admin-token-0123456789abcdef0123';
const basic = (user: string, pass: string) =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('Bull Board at /admin/queues', () => {
  const ctx = useTestServer({ VUTLER_ADMIN_TOKEN: ADMIN });
  const get = (path: string, authorization?: string) =>
    fetch(`${ctx.server.url}${path}`, { headers: authorization ? { authorization } : {} });

  it('asks for credentials (401) without any and refuses (403) wrong ones', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const none = await get(path);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toContain('Basic');
      expect(none.headers.get('content-type')).toContain('application/problem+json');
      for (const wrong of [
        `Bearer ${ADMIN}x`,
        basic('admin', 'nope'),
        basic('admin', ''),
        'Basic !!',
      ]) {
        const res = await get(path, wrong);
        expect(res.status, wrong).toBeGreaterThanOrEqual(401);
        expect(res.status, wrong).toBeLessThanOrEqual(403);
        expect(await res.text()).not.toContain('agent-runs');
      }
      expect((await get(path, basic('admin', 'nope'))).status).toBe(403);
    }
  });

  it('serves the board, its assets under the page CSP, and lists every queue', async () => {
    const page = await get('/admin/queues', basic('admin', ADMIN));
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(/script-src [^;]*unsafe/.test(csp)).toBe(false);
    const html = await page.text();
    expect(html).toContain('<base href="/admin/queues/"');
    const scripts = [...html.matchAll(/<script defer src="([^"]+)"/g)].map((m) => m[1] as string);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      const js = await get(`/admin/queues/${src}`, basic('admin', ADMIN));
      expect(js.status, src).toBe(200);
      expect(js.headers.get('content-type')).toContain('javascript');
    }
    const api = await get('/admin/queues/api/queues', `Bearer ${ADMIN}`);
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: Array<{ name: string }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['agent-runs', 'deploys']);
  });

  it('refuses a state-changing request from another site, even with credentials', async () => {
    const res = await fetch(`${ctx.server.url}/admin/queues/api/queues/deploys/clean/failed`, {
      method: 'PUT',
      headers: {
        authorization: basic('admin', ADMIN),
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
    });
    expect(res.status).toBe(403);
  });
});

describe('Bull Board without VUTLER_ADMIN_TOKEN', () => {
  const ctx = useTestServer();
  it('is off (404), with or without credentials', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await fetch(`${ctx.server.url}${path}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(res.status).toBe(404);
    }
  });
});
