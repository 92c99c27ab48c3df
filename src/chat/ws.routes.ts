import { getCookie } from 'hono/cookie';
import type { UpgradeWebSocket, WSContext } from 'hono/ws';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { SESSION_COOKIE } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { tokenKind } from '../auth/tokens.ts';
import { uuid } from '../http/schemas.ts';
import { type ChatHub, CLOSE, type Conn } from './hub.ts';

/** Larger client frames are refused by `ws` itself (close 1009) before they are buffered. */
export const MAX_FRAME_BYTES = 16 * 1024;
const HELLO_TIMEOUT_MS = 5_000;

const clientFrame = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('hello'),
      token: z.string().max(200).optional(),
      cursors: z.record(uuid, z.number().int().min(0)).optional(),
    })
    .strict(),
  z.object({ type: z.literal('typing'), chatId: uuid }).strict(),
  z.object({ type: z.literal('ping') }).strict(),
]);

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

    const error = (ws: WSContext<WebSocket>, message: string) =>
      ws.send(JSON.stringify({ type: 'error', message }));

    const hello = async (
      ws: WSContext<WebSocket>,
      token: string | undefined,
      cursors: Record<string, number>,
    ) => {
      const t = token ?? cookieToken;
      if (!t || tokenKind(t) !== 'session')
        return ws.close(CLOSE.unauthorized, 'unauthorized: send a session token');
      let who: { userId: string; sessionId: string };
      try {
        const session = await auth.authenticate(t);
        if (session.purpose !== 'login')
          return ws.close(CLOSE.unauthorized, 'unauthorized: not a login session');
        who = { userId: session.user_id, sessionId: session.id };
      } catch {
        return ws.close(CLOSE.unauthorized, 'unauthorized: invalid, expired or revoked session');
      }
      const raw = ws.raw!;
      conn = await hub.attach(who, raw, cursors);
      // The peer may have gone while we were attaching.
      if (closed) hub.detach(conn);
      raw.on('pong', () => conn && hub.pong(conn));
    };

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
      async onMessage(evt, ws) {
        const data = typeof evt.data === 'string' ? evt.data : null;
        if (data === null) return ws.close(CLOSE.badRequest, 'frames must be JSON text');
        let frame: z.infer<typeof clientFrame>;
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
          return hello(ws, frame.token, frame.cursors ?? {}).catch((err: Error) => {
            logger.warn({ err: { message: err.message } }, 'websocket hello failed');
            ws.close(1011, 'internal error');
          });
        }
        if (!conn) return;
        if (frame.type === 'ping') return ws.send(JSON.stringify({ type: 'pong' }));
        if (frame.type === 'typing') {
          if (!(await hub.typing(conn, frame.chatId))) error(ws, 'not a member of that chat');
          return;
        }
        return error(ws, 'hello was already sent');
      },
    };
  });
}
