import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { UpgradeWebSocket, WSContext } from 'hono/ws';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { SESSION_COOKIE } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { tokenKind } from '../auth/tokens.ts';
import { AppError } from '../errors.ts';
import { uuid } from '../http/schemas.ts';
import { type ChatHub, CLOSE, type Conn } from './hub.ts';

/** Larger client frames are refused by `ws` itself (close 1009) before they are buffered. */
export const MAX_FRAME_BYTES = 16 * 1024;
const HELLO_TIMEOUT_MS = 5_000;

/** Frames a client may send after hello while the server is still attaching it. */
const MAX_PENDING_FRAMES = 32;
const MAX_CURSORS = 1_000;

/**
 * `cursors` (chat id → last seq seen) as a `Map`: every key, `__proto__` included, goes through
 * the same UUID check, and no key can reach an object's prototype.
 */
const cursorsSchema = z
  .preprocess(
    // Own keys as they came off the wire: a schema over an object would skip `__proto__`.
    (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : v),
    z.array(z.tuple([uuid, z.number().int().min(0)])).max(MAX_CURSORS),
  )
  .transform((entries) => new Map(entries));

const clientFrame = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('hello'),
      token: z.string().max(200).optional(),
      cursors: cursorsSchema.optional(),
    })
    .strict(),
  z.object({ type: z.literal('typing'), chatId: uuid }).strict(),
  z.object({ type: z.literal('ping') }).strict(),
]);
type ClientFrame = z.infer<typeof clientFrame>;

export class UpgradeRequiredError extends AppError {
  constructor() {
    super(426, 'upgrade-required', 'Upgrade Required', 'GET /ws is a WebSocket endpoint.', {
      headers: { upgrade: 'websocket', connection: 'Upgrade' },
    });
  }
}

/** `GET /ws` without `Upgrade: websocket` is a client error of its own kind, not a 405. */
export const requireUpgrade: MiddlewareHandler = async (c, next) => {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw new UpgradeRequiredError();
  await next();
};

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/**
 * `GET /ws`. The first frame must be `{"type":"hello"}` within 5 s, carrying the session token
 * unless the HttpOnly cookie came with the upgrade, and optionally `cursors` (chat id → last seq
 * seen) to replay what was missed. Bad auth closes with 4401; see docs/API.md for the frames.
 */
export function wsRoute(
  upgradeWebSocket: UpgradeWebSocket<WebSocket>,
  auth: SessionService,
  hub: ChatHub,
  logger: Logger,
) {
  return upgradeWebSocket((c) => {
    // The cookie authenticates only same-origin pages: a cross-site page opening this socket
    // (WebSocket hijacking) must not ride on the browser's cookie. Bearer tokens in hello are fine.
    const origin = c.req.header('origin');
    const sameOrigin = !origin || safeHost(origin) === c.req.header('host');
    const cookieToken = sameOrigin ? getCookie(c, SESSION_COOKIE) : undefined;
    let conn: Conn | undefined;
    let closed = false;
    let helloSeen = false;
    let timer: NodeJS.Timeout | undefined;
    let badFrames = 0;
    // Frames after hello wait for it to finish (in order) rather than being dropped.
    let pending = 0;
    let chain: Promise<unknown> = Promise.resolve();

    const error = (ws: WSContext<WebSocket>, message: string) =>
      ws.send(JSON.stringify({ type: 'error', message }));

    const hello = async (
      ws: WSContext<WebSocket>,
      token: string | undefined,
      cursors: ReadonlyMap<string, number>,
    ) => {
      const t = token ?? cookieToken;
      if (!t || tokenKind(t) !== 'session')
        return ws.close(CLOSE.unauthorized, 'unauthorized: send a session token');
      let who: { userId: string; sessionId: string; expiresAt: Date };
      try {
        // Fresh from PostgreSQL: the socket lives on, and its expiry timer starts from this row.
        const session = await auth.authenticate(t, { fresh: true });
        if (session.purpose !== 'login')
          return ws.close(CLOSE.unauthorized, 'unauthorized: not a login session');
        who = { userId: session.user_id, sessionId: session.id, expiresAt: session.expires_at };
      } catch {
        return ws.close(CLOSE.unauthorized, 'unauthorized: invalid, expired or revoked session');
      }
      if (closed) return;
      const raw = ws.raw!;
      conn = await hub.attach(who, raw, cursors);
      // The peer may have gone while we were attaching.
      if (closed && conn) hub.detach(conn);
      raw.on('pong', () => conn && hub.pong(conn));
    };

    const answer = async (ws: WSContext<WebSocket>, frame: ClientFrame) => {
      if (!conn) return; // hello failed: the socket is closing
      if (frame.type === 'ping') return ws.send(JSON.stringify({ type: 'pong' }));
      if (frame.type === 'typing') {
        if (!(await hub.typing(conn, frame.chatId))) error(ws, 'not a member of that chat');
        return;
      }
      return error(ws, 'hello was already sent');
    };
    // Never rejects: a failed frame must not stall the ones queued behind it.
    const handle = (ws: WSContext<WebSocket>, frame: ClientFrame) =>
      answer(ws, frame).catch((err: Error) =>
        logger.warn({ err: { message: err.message } }, 'websocket frame failed'),
      );

    return {
      onOpen(_evt, ws) {
        // Listen on the raw socket: @hono/node-ws builds CloseEvent/ErrorEvent objects for
        // onClose/onError, which Node 20 does not have, so those callbacks would never run.
        ws.raw?.once('close', () => {
          closed = true;
          clearTimeout(timer);
          if (conn) hub.detach(conn);
        });
        ws.raw?.on('error', (err) =>
          logger.debug({ err: { message: err.message } }, 'websocket error'),
        );
        timer = setTimeout(() => {
          if (!helloSeen) ws.close(CLOSE.unauthorized, 'unauthorized: no hello frame in time');
        }, HELLO_TIMEOUT_MS);
      },
      onMessage(evt, ws) {
        const data = typeof evt.data === 'string' ? evt.data : null;
        if (data === null) return ws.close(CLOSE.badRequest, 'frames must be JSON text');
        let frame: ClientFrame;
        try {
          const parsed = clientFrame.safeParse(JSON.parse(data));
          if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid frame');
          frame = parsed.data;
        } catch (err) {
          if (!helloSeen)
            return ws.close(CLOSE.badRequest, 'the first frame must be {"type":"hello"}');
          if (++badFrames > 20) return ws.close(CLOSE.badRequest, 'too many malformed frames');
          return error(ws, `malformed frame: ${(err as Error).message}`);
        }
        if (!helloSeen) {
          if (frame.type !== 'hello')
            return ws.close(CLOSE.badRequest, 'the first frame must be {"type":"hello"}');
          helloSeen = true;
          clearTimeout(timer);
          chain = hello(ws, frame.token, frame.cursors ?? new Map()).catch((err: Error) => {
            logger.warn({ err: { message: err.message } }, 'websocket hello failed');
            ws.close(1011, 'internal error');
          });
          return;
        }
        if (conn && pending === 0) return void handle(ws, frame);
        if (++pending > MAX_PENDING_FRAMES)
          return error(ws, 'too many frames before ready: wait for {"type":"ready"}');
        const f = frame;
        chain = chain.then(() => {
          pending--;
          return handle(ws, f);
        });
      },
    };
  });
}
