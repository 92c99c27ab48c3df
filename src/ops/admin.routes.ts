import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Config } from '../config.ts';
import { AppError, ForbiddenError } from '../errors.ts';
import type { Redis } from '../redis.ts';
import { PAGE_CSP } from '../web/static.routes.ts';
import { QUEUE_NAMES } from '../workers/jobs.ts';
import { Queues } from '../workers/queues.ts';
import { sameToken } from './metrics.routes.ts';

export const ADMIN_QUEUES_PATH = '/admin/queues';

/**
 * The web app's policy, plus what Bull Board 9.10.1's page needs: its `<base href>`, style
 * attributes (React sets widths and colours inline; attributes cannot run script), and the two
 * `<style>` elements it ships, by hash. Scripts stay 'self' only; its Google web fonts are refused
 * (no third-party requests from an admin page), so it falls back to system fonts. A new Bull Board
 * version may need new hashes: the e2e test (tests/e2e/admin-queues.test.ts) fails on a violation.
 */
const ADMIN_CSP = [
  PAGE_CSP.replace("base-uri 'none'", "base-uri 'self'"),
  "style-src-attr 'unsafe-inline'",
  "style-src-elem 'self' 'sha256-dv714QSXJBurriRZTklJT4phtgwCe+o7Frxoi2awcdg=' 'sha256-r2N1TB/gHbBtBZFKg7ejmq1acVSREzucTAEw6ga4hoU='",
].join('; ');

class AdminAuthRequired extends AppError {
  constructor() {
    super(401, 'unauthorized', 'Unauthorized', 'Admin credentials are required.', {
      // Basic lets a browser ask once and resend on every asset and API call of the board.
      headers: { 'www-authenticate': 'Basic realm="Vutler admin", charset="UTF-8"' },
    });
  }
}

/** The presented secret: `Bearer <token>`, or Basic with any user name and the token as password. */
function presented(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value = ''] = header.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // "null" and other opaque origins match no host
  }
}

/**
 * 401 without credentials, 403 with wrong ones. A browser resends Basic credentials on its own,
 * so a state-changing request must also come from the board's own page (no cross-site forms).
 */
function adminAuth(token: string): MiddlewareHandler {
  return async (c, next) => {
    const given = presented(c.req.header('authorization'));
    if (given === undefined) throw new AdminAuthRequired();
    if (!sameToken(given, token)) throw new ForbiddenError('These admin credentials are wrong.');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const site = c.req.header('sec-fetch-site');
      const origin = c.req.header('origin');
      const host = c.req.header('host');
      if ((site && site !== 'same-origin') || (origin !== undefined && hostOf(origin) !== host))
        throw new ForbiddenError('Admin actions must come from the board itself.');
    }
    await next();
    c.header('content-security-policy', ADMIN_CSP);
    c.header('cache-control', 'no-store');
  };
}

/**
 * Bull Board over every queue in `src/workers/jobs.ts`, at `/admin/queues`, behind
 * `VUTLER_ADMIN_TOKEN`. Without the token nothing is mounted (404). Jobs carry ids only, so the
 * board shows no content.
 */
export function adminRoutes(
  config: Config,
  redis: Redis,
): { app: Hono; close: () => Promise<void> } {
  const app = new Hono();
  const token = config.ops.adminToken;
  if (!token) return { app, close: async () => undefined };
  const queues = new Queues(config, redis);
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({
    queues: QUEUE_NAMES.map((name) => new BullMQAdapter(queues.get(name))),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Vutler queues', hideDocsLink: true } },
  });
  app.use(ADMIN_QUEUES_PATH, adminAuth(token));
  app.use(`${ADMIN_QUEUES_PATH}/*`, adminAuth(token));
  app.route(ADMIN_QUEUES_PATH, serverAdapter.registerPlugin());
  return { app, close: () => queues.close() };
}
