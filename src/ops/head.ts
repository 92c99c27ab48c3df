import type { Hono } from 'hono';

/**
 * Hono answers HEAD by running GET and wrapping its response in `new Response(null, res)`; under
 * @hono/node-server's lightweight Response that copy drops every header the middleware added
 * (security headers, x-request-id). Answer HEAD here instead: run GET, keep status and headers,
 * discard the body.
 */
export function keepHeadersOnHead(app: Hono): void {
  const fetch = app.fetch;
  app.fetch = async (request, ...rest) => {
    if (request.method !== 'HEAD') return fetch(request, ...rest);
    const res = await fetch(new Request(request, { method: 'GET' }), ...rest);
    const headers = new Headers(res.headers);
    await res.body?.cancel().catch(() => undefined);
    return new Response(null, { status: res.status, statusText: res.statusText, headers });
  };
}
