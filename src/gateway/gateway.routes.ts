import { Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { GRANT_ENVELOPE_BYTES } from '../crypto/grants.ts';
import { NotFoundError } from '../errors.ts';
import { agentName, base64Bytes, uuid } from '../http/schemas.ts';
import { jsonBody, queryParams } from '../http/validate.ts';
import type { Gateway } from './gateway.module.ts';
import { ACCESS_LEVELS, conditionsSchema, permissionResourceType } from './permissions.ts';

const epoch = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const wraps = z
  .array(z.object({ epoch, envelope: base64Bytes({ exact: GRANT_ENVELOPE_BYTES }) }).strict())
  .min(1)
  .max(1000);

const permissionBody = z
  .object({
    agentName,
    resourceType: permissionResourceType,
    accessLevel: z.enum(ACCESS_LEVELS),
    conditions: conditionsSchema.default({}),
  })
  .strict();

const grantBody = z
  .object({
    grantId: uuid,
    agentName,
    resourceType: z.enum(['chat', 'files']).default('chat'),
    resourceId: uuid,
    scope: z.enum(['from_now_on', 'all_history']),
    expiresAt: z.iso.datetime({ offset: true }).nullable().default(null),
    wraps,
  })
  .strict();

const agentFilter = z.object({ agentName: agentName.optional() }).strict();

/**
 * People's side of the gateway: the gateway's public keys, their agents' permissions and the
 * key grants their clients made. Agents never call these.
 */
export function gatewayRoutes(auth: SessionService, gateway: Gateway) {
  const app = new Hono<AuthEnv>();
  const session = requireSession(auth);
  const { permissions } = gateway;
  const grants = async () => (await gateway.keyed()).grants;

  app.get('/gateway/keys', async (c) => {
    c.header('cache-control', 'public, max-age=300');
    return c.json((await gateway.keyed()).keys.bundle);
  });

  app.get('/agents/permissions', session, async (c) => {
    const q = queryParams(c, agentFilter);
    return c.json({ permissions: await permissions.list(c.get('auth').userId, q.agentName) });
  });

  app.put('/agents/permissions', session, async (c) => {
    const body = await jsonBody(c, permissionBody);
    return c.json(await permissions.set(c.get('auth').userId, body));
  });

  app.delete('/agents/permissions/:id', session, async (c) => {
    const id = uuid.safeParse(c.req.param('id'));
    if (!id.success || !(await permissions.remove(c.get('auth').userId, id.data)))
      throw new NotFoundError();
    return c.body(null, 204);
  });

  app.get('/agents/grants', session, async (c) => {
    const q = queryParams(c, agentFilter);
    return c.json({ grants: await (await grants()).list(c.get('auth').userId, q.agentName) });
  });

  app.post('/agents/grants', session, async (c) => {
    const body = await jsonBody(c, grantBody);
    const view = await (await grants()).create(c.get('auth').userId, {
      ...body,
      expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
    });
    return c.json(view, 201);
  });

  app.post('/agents/grants/:id/wraps', session, async (c) => {
    const id = uuid.safeParse(c.req.param('id'));
    if (!id.success) throw new NotFoundError();
    const body = await jsonBody(c, z.object({ wraps }).strict());
    return c.json(await (await grants()).addWraps(c.get('auth').userId, id.data, body.wraps));
  });

  app.delete('/agents/grants/:id', session, async (c) => {
    const id = uuid.safeParse(c.req.param('id'));
    if (!id.success) throw new NotFoundError();
    return c.json(await (await grants()).revoke(c.get('auth').userId, id.data));
  });

  return app;
}
