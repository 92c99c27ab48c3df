import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import { NotFoundError, UnauthorizedError } from '../errors.ts';
import { metrics, metricsRegistry } from '../metrics.ts';

/** Counts and times every request under its route pattern (`/api/chats/:id`), never its path. */
export function httpMetrics(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      // The last matched route is the handler that answered; only '*' matched means no route.
      const matched = routePath(c, -1);
      const route = !matched || matched === '*' || matched === '/*' ? 'unmatched' : matched;
      const method = c.req.method;
      const status = String(c.res.status);
      metrics.httpRequests.inc({ method, route, status });
      metrics.httpDuration.observe({ method, route }, (performance.now() - started) / 1000);
      if (status === '429') metrics.rateLimited.inc({ route });
    }
  };
}

/** Constant-time comparison of a presented credential with the configured one. */
export function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `GET /metrics` (Prometheus text). With no token configured it does not exist (404), so a
 * deployment never exposes metrics by accident; with one, `Authorization: Bearer <token>`.
 */
export function metricsRoutes(token: string | undefined) {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    if (!token) throw new NotFoundError('Metrics are off: set VUTLER_METRICS_TOKEN.');
    const auth = c.req.header('authorization') ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!sameToken(given, token)) throw new UnauthorizedError('A valid metrics token is required.');
    const body = await metricsRegistry.metrics();
    return c.body(body, 200, { 'content-type': metricsRegistry.contentType });
  });
  return app;
}
