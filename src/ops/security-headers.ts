import type { MiddlewareHandler } from 'hono';

/**
 * Headers every API answer carries, whether or not nginx adds them too (a node reached directly
 * must be as safe). The API serves JSON only; a page's CSP belongs to the web app's static routes,
 * so a header already set by a handler is left alone.
 */
const HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // A 101 upgrade answer's headers are immutable and already sent: nothing to add there.
    if (c.res.status === 101) return;
    for (const [name, value] of Object.entries(HEADERS)) {
      if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    }
  };
}
