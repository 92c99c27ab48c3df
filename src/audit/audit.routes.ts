import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { agentName, uuid } from '../http/schemas.ts';
import { queryParams } from '../http/validate.ts';
import type { AuditService } from './audit.service.ts';
import type { AuditChainService } from './chain.service.ts';

const filters = z
  .object({
    agentName: agentName.optional(),
    resourceId: uuid.optional(),
    outcome: z.enum(['allowed', 'denied', 'error']).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    cursor: uuid.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

/**
 * `GET /api/audit`: a person reads their own agents' access log, newest first, each row with its
 * hash-chain state. `GET /api/audit/export`: the whole log as NDJSON with the signed checkpoints.
 */
export function auditRoutes(auth: SessionService, audit: AuditService, chain?: AuditChainService) {
  const app = new Hono<AuthEnv>();
  app.get('/audit', requireSession(auth), async (c) => {
    const q = queryParams(c, filters);
    const userId = c.get('auth').userId;
    const page = await audit.page(userId, {
      ...q,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
    });
    return c.json(chain ? { ...page, entries: await chain.annotate(userId, page.entries) } : page);
  });
  if (chain) {
    app.get('/audit/export', requireSession(auth), async (c) => {
      queryParams(c, z.object({}).strict());
      const userId = c.get('auth').userId;
      c.header('content-type', 'application/x-ndjson; charset=utf-8');
      c.header('content-disposition', 'attachment; filename="vutler-audit.ndjson"');
      c.header('cache-control', 'no-store');
      return stream(c, async (s) => {
        for await (const line of chain.exportLines(userId))
          await s.write(`${JSON.stringify(line)}\n`);
      });
    });
  }
  return app;
}
