import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { CHAT_KEY_WRAP_BYTES, KEY_COMMITMENT_BYTES } from '../crypto/chatkeys.ts';
import type { MembershipEntry } from '../crypto/membership.ts';
import { CHAIN_ID_BYTES, MESSAGE_HASH_BYTES } from '../crypto/messages.ts';
import { isUuidV7 } from '../crypto/uuid.ts';
import { NotFoundError, PayloadTooLargeError } from '../errors.ts';
import { payloadLimit } from '../http/body-limit.ts';
import { agentName, base64Bytes, uuid } from '../http/schemas.ts';
import { jsonBody, queryParams } from '../http/validate.ts';
import type { ChatService } from './chat.service.ts';

/** Largest message ciphertext (envelope included). Bodies above the route limit get 413. */
export const MAX_CIPHERTEXT_BYTES = 64 * 1024;
const MESSAGE_BODY_LIMIT = 96 * 1024;

const wrap = base64Bytes({ exact: CHAT_KEY_WRAP_BYTES });
const epoch = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

/** A signed membership-log entry (docs/CRYPTO.md); `chatId` comes from the path. */
const logEntry = z
  .object({
    position: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    epoch,
    action: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
    actorId: uuid,
    subjectId: uuid,
    subjectFingerprint: base64Bytes({ exact: 32 }),
    role: z.string().max(32),
    prevHash: base64Bytes({ exact: 32 }),
    keyCommitment: base64Bytes({ exact: KEY_COMMITMENT_BYTES }).nullable(),
    signature: base64Bytes({ exact: 64 }),
  })
  .strict();

type LogEntryBody = z.infer<typeof logEntry>;
const entryOf = (chatId: string, e: LogEntryBody): MembershipEntry => ({ ...e, chatId });

const createBody = z
  .object({
    id: uuid,
    kind: z.enum(['direct', 'group']),
    titleEncrypted: base64Bytes({ max: 1024 }).optional(),
    keyWraps: z
      .array(z.object({ userId: uuid, wrap }).strict())
      .min(1)
      .max(500),
    /** `create` by the caller, then one `add` per other member. */
    log: z.array(logEntry).min(1).max(500),
  })
  .strict();

const addMemberBody = z
  .object({
    entry: logEntry,
    keyWraps: z.array(z.object({ epoch, wrap }).strict()).min(1).max(1000),
  })
  .strict();

const rotateBody = z
  .object({
    keyWraps: z
      .array(z.object({ userId: uuid, wrap }).strict())
      .min(1)
      .max(500),
    /** `remove` entries (maybe none), then one `rotate`. */
    entries: z.array(logEntry).min(1).max(501),
  })
  .strict();

const logQuery = z
  .object({
    after: z.coerce
      .number()
      .int()
      .min(-1)
      .max(2 ** 31 - 1)
      .default(-1),
  })
  .strict();

const deleteBody = z.object({ tombstone: base64Bytes({ exact: 64 }) }).strict();

/**
 * A sealed, signed and chained message as clients post it (to a chat, or as a VDrive share's
 * card), with ciphertexts up to `maxCiphertext` decoded bytes.
 */
export function sealedMessageSchema(maxCiphertext: number) {
  return z
    .object({
      id: z.string().refine(isUuidV7, 'must be a UUIDv7 made by the client'),
      epoch,
      ciphertext: base64Bytes({ max: maxCiphertext }),
      signature: base64Bytes({ exact: 64 }),
      chain: z
        .object({
          id: base64Bytes({ exact: CHAIN_ID_BYTES }),
          counter: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
          prev: base64Bytes({ exact: MESSAGE_HASH_BYTES }),
        })
        .strict(),
      mentions: z.array(agentName).max(10).default([]),
      decryptionPermissions: z
        .object({ agents: z.enum(['allow', 'deny']).optional() })
        .strict()
        .default({}),
    })
    .strict();
}

// Size is checked after decoding so that an oversized ciphertext is a 413, not a 422.
const messageBody = sealedMessageSchema(MESSAGE_BODY_LIMIT);

const historyQuery = z
  .object({
    before: z.coerce.number().int().min(0).optional(),
    after: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict()
  .refine((q) => q.before === undefined || q.after === undefined, 'use before or after, not both');

function idParam(c: Context, name: string): string {
  const parsed = uuid.safeParse(c.req.param(name));
  // A malformed id names nothing: same answer as an unknown one.
  if (!parsed.success) throw new NotFoundError();
  return parsed.data;
}

/** `/api/chats/*`. */
export function chatRoutes(auth: SessionService, chats: ChatService) {
  const app = new Hono<AuthEnv>();
  app.use('/chats', requireSession(auth));
  app.use('/chats/*', requireSession(auth));

  app.post('/chats', async (c) => {
    const b = await jsonBody(c, createBody);
    const chat = await chats.create(c.get('auth').userId, {
      id: b.id,
      kind: b.kind,
      titleEncrypted: b.titleEncrypted ?? null,
      keyWraps: b.keyWraps,
      log: b.log.map((e) => entryOf(b.id, e)),
    });
    return c.json(chat, 201);
  });

  app.get('/chats', async (c) => c.json({ chats: await chats.list(c.get('auth').userId) }));

  app.get('/chats/:id', async (c) =>
    c.json(await chats.get(idParam(c, 'id'), c.get('auth').userId)),
  );

  app.post('/chats/:id/members', async (c) => {
    const chatId = idParam(c, 'id');
    const b = await jsonBody(c, addMemberBody);
    const input = { entry: entryOf(chatId, b.entry), keyWraps: b.keyWraps };
    return c.json(await chats.addMember(chatId, c.get('auth').userId, input), 201);
  });

  app.post('/chats/:id/epochs', async (c) => {
    const chatId = idParam(c, 'id');
    const b = await jsonBody(c, rotateBody);
    const input = { keyWraps: b.keyWraps, entries: b.entries.map((e) => entryOf(chatId, e)) };
    return c.json(await chats.rotate(chatId, c.get('auth').userId, input), 201);
  });

  app.get('/chats/:id/log', async (c) => {
    const chatId = idParam(c, 'id');
    const q = queryParams(c, logQuery);
    return c.json({ entries: await chats.log(chatId, c.get('auth').userId, q.after) });
  });

  app.get('/chats/:id/keys', async (c) =>
    c.json({ keys: await chats.myKeys(idParam(c, 'id'), c.get('auth').userId) }),
  );

  app.post('/chats/:id/messages', payloadLimit(MESSAGE_BODY_LIMIT), async (c) => {
    const chatId = idParam(c, 'id');
    const b = await jsonBody(c, messageBody);
    if (b.ciphertext.length > MAX_CIPHERTEXT_BYTES)
      throw new PayloadTooLargeError(MAX_CIPHERTEXT_BYTES);
    const { message, created } = await chats.post(chatId, c.get('auth').userId, b);
    return c.json({ message }, created ? 201 : 200);
  });

  app.get('/chats/:id/messages', async (c) => {
    const chatId = idParam(c, 'id');
    const q = queryParams(c, historyQuery);
    const messages = await chats.history(chatId, c.get('auth').userId, q, q.limit);
    return c.json({ messages, hasMore: messages.length === q.limit });
  });

  app.delete('/chats/:id/messages/:messageId', async (c) => {
    const chatId = idParam(c, 'id');
    const messageId = idParam(c, 'messageId');
    const b = await jsonBody(c, deleteBody);
    await chats.deleteMessage(chatId, c.get('auth').userId, messageId, b.tombstone);
    return c.body(null, 204);
  });

  return app;
}
