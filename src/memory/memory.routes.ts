import { Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { GRANT_ENVELOPE_BYTES } from '../crypto/grants.ts';
import { MEMORY_ENTRY_MAX_BYTES, MEMORY_KEY_ENVELOPE_BYTES } from '../crypto/memory.ts';
import { NotFoundError } from '../errors.ts';
import { agentName, base64Bytes, uuid } from '../http/schemas.ts';
import { jsonBody } from '../http/validate.ts';
import type { MemoryService } from './memory.service.ts';

const lowerUuid = uuid.transform((v) => v.toLowerCase());

const keyBody = z
  .object({ keyId: lowerUuid, wrappedKey: base64Bytes({ exact: MEMORY_KEY_ENVELOPE_BYTES }) })
  .strict();

const grantBody = z
  .object({
    agentName,
    grantId: lowerUuid,
    expiresAt: z.iso.datetime({ offset: true }).nullable().default(null),
    envelope: base64Bytes({ exact: GRANT_ENVELOPE_BYTES }),
  })
  .strict();

const entryBody = z.object({ envelope: base64Bytes({ max: MEMORY_ENTRY_MAX_BYTES }) }).strict();

/**
 * `/api/memory/...`: a person reads, corrects and deletes what their agents remembered. The
 * server stores and returns ciphertext; the SDK (src/client/memory.ts) decrypts and verifies.
 */
export function memoryRoutes(auth: SessionService, memory: () => Promise<MemoryService>) {
  const app = new Hono<AuthEnv>();
  app.use('/memory/*', requireSession(auth));
  const agent = (raw: string) => {
    const a = agentName.safeParse(raw);
    if (!a.success) throw new NotFoundError();
    return a.data;
  };
  const entryId = (raw: string) => {
    const id = lowerUuid.safeParse(raw);
    if (!id.success) throw new NotFoundError();
    return id.data;
  };

  app.get('/memory/:agent/key', async (c) =>
    c.json(await (await memory()).key(c.get('auth').userId, agent(c.req.param('agent')))),
  );

  app.put('/memory/:agent/key', async (c) => {
    const name = agent(c.req.param('agent'));
    const body = await jsonBody(c, keyBody);
    const out = await (await memory()).createKey(c.get('auth').userId, {
      agentName: name,
      ...body,
    });
    return c.json(out.view, out.created ? 201 : 200);
  });

  app.post('/memory/grants', async (c) => {
    const body = await jsonBody(c, grantBody);
    return c.json(
      await (await memory()).grant(c.get('auth').userId, {
        ...body,
        expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
      }),
      201,
    );
  });

  app.get('/memory/:agent/entries', async (c) =>
    c.json({
      entries: await (await memory()).entries(c.get('auth').userId, agent(c.req.param('agent'))),
    }),
  );

  app.put('/memory/:agent/entries/:id', async (c) => {
    const name = agent(c.req.param('agent'));
    const id = entryId(c.req.param('id'));
    const body = await jsonBody(c, entryBody);
    return c.json(await (await memory()).putEntry(c.get('auth').userId, name, id, body.envelope));
  });

  app.delete('/memory/:agent/entries/:id', async (c) => {
    await (await memory()).deleteEntry(
      c.get('auth').userId,
      agent(c.req.param('agent')),
      entryId(c.req.param('id')),
    );
    return c.body(null, 204);
  });

  return app;
}
