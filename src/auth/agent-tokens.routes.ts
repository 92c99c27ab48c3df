import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError, UnauthorizedError } from '../errors.ts';
import { agentName, text, uuid } from '../http/schemas.ts';
import { jsonBody } from '../http/validate.ts';
import type { AgentTokenService } from './agent-tokens.service.ts';

import { type AuthEnv, bearerToken, requireSession } from './middleware.ts';
import type { SessionService } from './session.service.ts';

const issueBody = z
  .object({
    agentName,
    expiresInDays: z.number().int().min(1).max(365).default(30),
    label: text({ min: 1, max: 200 }).optional(),
  })
  .strict();

/** `/api/agents/tokens` for people; `/api/agent/whoami` for an agent checking its token. */
export function agentTokenRoutes(sessions: SessionService, tokens: AgentTokenService) {
  const app = new Hono<AuthEnv>();
  const session = requireSession(sessions);

  app.post('/agents/tokens', session, async (c) => {
    const body = await jsonBody(c, issueBody);
    const issued = await tokens.issue(
      c.get('auth').userId,
      body.agentName,
      body.expiresInDays,
      body.label ?? null,
    );
    c.header('cache-control', 'no-store');
    return c.json(issued, 201);
  });

  app.get('/agents/tokens', session, async (c) =>
    c.json({ tokens: await tokens.list(c.get('auth').userId) }),
  );

  app.delete('/agents/tokens/:id', session, async (c) => {
    const id = uuid.safeParse(c.req.param('id'));
    if (!id.success || !(await tokens.revoke(c.get('auth').userId, id.data)))
      throw new NotFoundError();
    return c.body(null, 204);
  });

  app.get('/agent/whoami', async (c) => {
    const token = bearerToken(c);
    if (!token)
      throw new UnauthorizedError('Send the agent token as "Authorization: Bearer vta_…".');
    const p = await tokens.authenticate(token);
    return c.json({
      agentName: p.agentName,
      userId: p.userId,
      expiresAt: p.expiresAt.toISOString(),
    });
  });

  return app;
}
