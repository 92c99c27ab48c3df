import { Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { agentName, uuid } from '../http/schemas.ts';
import { queryParams } from '../http/validate.ts';
import type { AuditService } from './audit.service.ts';

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

/** `GET /api/audit`: a person reads their own agents' access log, newest first. */
export function auditRoutes(auth: SessionService, audit: AuditService) {
  const app = new Hono<AuthEnv>();
  app.get('/audit', requireSession(auth), async (c) => {
    const q = queryParams(c, filters);
    return c.json(
      await audit.page(c.get('auth').userId, {
        ...q,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
      }),
    );
  });
  return app;
}
