import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';

describe('HEAD', () => {
  const ctx = useTestServer();
  it('keeps security headers and the request id on the wire, with no body', async () => {
    for (const p of ['/health', '/assets/none.js', '/api/me']) {
      const res = await fetch(`${ctx.server.url}${p}`, { method: 'HEAD' });
      expect(res.headers.get('x-content-type-options'), p).toBe('nosniff');
      expect(res.headers.get('x-request-id'), p).toBeTruthy();
      expect(await res.text()).toBe('');
    }
    const get = await fetch(`${ctx.server.url}/api/me`);
    const head = await fetch(`${ctx.server.url}/api/me`, { method: 'HEAD' });
    expect(head.status).toBe(get.status);
  });
});
