import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { LOG_HASH_BYTES } from '../crypto/membership.ts';
import { SIGNATURE_BYTES } from '../crypto/primitives.ts';
import { NotFoundError } from '../errors.ts';
import { base64Bytes, uuid } from '../http/schemas.ts';
import { jsonBody } from '../http/validate.ts';
import type { AnchorService } from './anchors.service.ts';

const anchorBody = z
  .object({
    length: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1),
    head: base64Bytes({ exact: LOG_HASH_BYTES }),
    signature: base64Bytes({ exact: SIGNATURE_BYTES }),
  })
  .strict();

function chatIdOf(c: Context): string {
  const parsed = uuid.safeParse(c.req.param('id'));
  if (!parsed.success) throw new NotFoundError();
  return parsed.data;
}

/** `/api/chats/:id/anchor`: the caller's own log anchor. Not on the send path. */
export function anchorRoutes(auth: SessionService, anchors: AnchorService) {
  const app = new Hono<AuthEnv>();
  app.use('/chats/:id/anchor', requireSession(auth));
  app.get('/chats/:id/anchor', async (c) =>
    c.json({ anchor: await anchors.get(chatIdOf(c), c.get('auth').userId) }),
  );
  app.put('/chats/:id/anchor', async (c) => {
    const chatId = chatIdOf(c);
    const body = await jsonBody(c, anchorBody);
    return c.json({ anchor: await anchors.put(chatId, c.get('auth').userId, body) });
  });
  return app;
}
