import { Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { email, uuid } from '../http/schemas.ts';
import { jsonBody } from '../http/validate.ts';
import type { DirectoryService } from './directory.service.ts';

// POST, not GET: an email in a query string would land in access logs.
const lookupBody = z.object({ email }).strict();
const profilesBody = z.object({ ids: z.array(uuid).max(200) }).strict();

/** `/api/users/lookup` and `/api/users/profiles`: finding people and naming chat members. */
export function directoryRoutes(auth: SessionService, directory: DirectoryService) {
  const app = new Hono<AuthEnv>();
  app.use('/users/lookup', requireSession(auth));
  app.use('/users/profiles', requireSession(auth));

  app.post('/users/lookup', async (c) => {
    const body = await jsonBody(c, lookupBody);
    c.header('cache-control', 'no-store');
    return c.json({ users: await directory.lookup(c.get('auth').userId, body.email) });
  });

  app.post('/users/profiles', async (c) => {
    const body = await jsonBody(c, profilesBody);
    return c.json({ users: await directory.profiles(c.get('auth').userId, body.ids) });
  });

  return app;
}
