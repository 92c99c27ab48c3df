import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { MAX_CIPHERTEXT_BYTES, sealedMessageSchema } from '../chat/chat.routes.ts';
import { shareEnvelopeLength } from '../crypto/shares.ts';
import { BadRequestError, NotFoundError, PayloadTooLargeError } from '../errors.ts';
import { base64Bytes, uuid } from '../http/schemas.ts';
import { jsonBody, queryParams } from '../http/validate.ts';
import { ChunkOutOfRangeError } from './errors.ts';
import type { SharesService } from './shares.service.ts';
import type { VdriveService } from './vdrive.service.ts';

/** Limits of what the client may store beside the chunks. */
export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_PREVIEW_BYTES = 256 * 1024;
const FILE_KEY_ENVELOPE_BYTES = 1 + 12 + 32 + 16;
const MAX_HEADER_BYTES = 3 + 1024 + 4 + 32 + 7;
const SHARE_BODY_LIMIT = 160 * 1024;

const CHUNK_PATH = /^\/api\/files\/[^/]+\/chunks\/[^/]+$/;

/** Chunk uploads stream to storage under their own limit; the global body limit must skip them. */
export function isChunkUpload(method: string, path: string): boolean {
  return method === 'PUT' && CHUNK_PATH.test(path);
}

const createBody = z
  .object({
    id: uuid,
    encryptedMetadata: base64Bytes({ max: MAX_METADATA_BYTES, min: 1 + 12 + 16 }).transform((b) =>
      Buffer.from(b).toString('base64'),
    ),
    fileKeyEncrypted: base64Bytes({ exact: FILE_KEY_ENVELOPE_BYTES }),
    header: base64Bytes({ max: MAX_HEADER_BYTES, min: 1 }),
    chunkSize: z.number().int().min(1),
    chunkCount: z.number().int().min(1),
    ciphertextSize: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    preview: base64Bytes({ max: MAX_PREVIEW_BYTES, min: 1 + 12 + 16 }).optional(),
  })
  .strict();

const listQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const shareBody = z
  .object({
    shareId: uuid,
    chatId: uuid,
    mode: z.enum(['download', 'preview']),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    envelope: base64Bytes({
      max: shareEnvelopeLength('preview'),
      min: shareEnvelopeLength('download'),
    }),
    message: sealedMessageSchema(MAX_CIPHERTEXT_BYTES),
  })
  .strict();

function idParam(c: Context, name: string): string {
  const parsed = uuid.safeParse(c.req.param(name));
  if (!parsed.success) throw new NotFoundError();
  return parsed.data;
}

/** Chunk indices are plain decimal; "-1", "1.5" or "0x1" name no chunk. */
function chunkIndex(c: Context): number {
  const raw = c.req.param('index') ?? '';
  if (!/^\d{1,10}$/.test(raw)) throw new ChunkOutOfRangeError(0);
  return Number(raw);
}

function contentLength(c: Context): number | undefined {
  const v = c.req.header('content-length');
  if (v === undefined || c.req.header('transfer-encoding')) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new BadRequestError('Content-Length is not a byte count.');
  return Number(v);
}

function bytes(c: Context, r: { stream: ReadableStream<Uint8Array>; size: number }) {
  return c.body(r.stream, 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(r.size),
    'cache-control': 'no-store',
  });
}

/** `/api/files/*` and `/api/shares/*`. */
export function vdriveRoutes(auth: SessionService, files: VdriveService, shares: SharesService) {
  const app = new Hono<AuthEnv>();
  for (const p of ['/files', '/files/*', '/shares/*']) app.use(p, requireSession(auth));
  const me = (c: Context<AuthEnv>) => c.get('auth').userId;

  app.post('/files', async (c) => {
    const b = await jsonBody(c, createBody);
    const file = await files.create(me(c), { ...b, preview: b.preview ?? null });
    return c.json(file, 201);
  });

  app.get('/files', async (c) => {
    const q = queryParams(c, listQuery);
    return c.json(await files.list(me(c), q.limit, q.cursor));
  });

  app.get('/files/:id', async (c) => c.json(await files.get(me(c), idParam(c, 'id'))));

  app.get('/files/:id/upload', async (c) => c.json(await files.status(me(c), idParam(c, 'id'))));

  app.put('/files/:id/chunks/:index', async (c) => {
    const fileId = idParam(c, 'id');
    // On Node the raw request is read directly: no web-stream adapter between socket and disk.
    const incoming = (c.env as { incoming?: AsyncIterable<Uint8Array> } | undefined)?.incoming;
    const body = incoming ?? c.req.raw.body;
    const r = await files.putChunk(me(c), fileId, chunkIndex(c), body, contentLength(c));
    return c.json(r);
  });

  app.post('/files/:id/complete', async (c) =>
    c.json(await files.complete(me(c), idParam(c, 'id'))),
  );

  app.get('/files/:id/chunks/:index', async (c) =>
    bytes(c, await files.chunk(me(c), idParam(c, 'id'), chunkIndex(c))),
  );

  app.get('/files/:id/content', async (c) =>
    bytes(c, await files.content(me(c), idParam(c, 'id'))),
  );

  app.get('/files/:id/preview', async (c) => {
    const p = await files.preview(me(c), idParam(c, 'id'));
    return c.body(new Uint8Array(p), 200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
    });
  });

  app.delete('/files/:id', async (c) => {
    await files.delete(me(c), idParam(c, 'id'));
    return c.body(null, 204);
  });

  app.post('/files/:id/shares', async (c) => {
    const len = contentLength(c);
    if (len !== undefined && len > SHARE_BODY_LIMIT)
      throw new PayloadTooLargeError(SHARE_BODY_LIMIT);
    const fileId = idParam(c, 'id');
    // Someone else's file is a 404 whatever the body says.
    await files.ownReadyFile(me(c), fileId);
    const b = await jsonBody(c, shareBody);
    const r = await shares.share(me(c), fileId, {
      ...b,
      expiresAt: b.expiresAt ? new Date(b.expiresAt) : null,
    });
    return c.json(r, 201);
  });

  app.get('/shares/:id', async (c) => c.json(await shares.open(me(c), idParam(c, 'id'))));

  app.get('/shares/:id/preview', async (c) => {
    const p = await shares.preview(me(c), idParam(c, 'id'));
    return c.body(new Uint8Array(p), 200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
    });
  });

  app.get('/shares/:id/chunks/:index', async (c) =>
    bytes(c, await shares.chunk(me(c), idParam(c, 'id'), chunkIndex(c))),
  );

  app.get('/shares/:id/content', async (c) =>
    bytes(c, await shares.content(me(c), idParam(c, 'id'))),
  );

  app.delete('/shares/:id', async (c) => {
    await shares.revoke(me(c), idParam(c, 'id'));
    return c.body(null, 204);
  });

  return app;
}
