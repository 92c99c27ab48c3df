/**
 * The persisted-relay baseline of bench/chat's server-side mode: what the least a persisted chat
 * relay must do per message — a bearer check (in memory), one INSERT into PostgreSQL, one Redis
 * publish, and a `ws` send to the room's sockets from the subscription. No signature check, no
 * sequencing, no membership table. Same PostgreSQL, same Redis as the Vutler server under test.
 *
 * Env: RELAY_DATABASE_URL, RELAY_REDIS_URL, RELAY_PREFIX. Prints `{"port":N}` once listening;
 * exits on SIGTERM/SIGINT or when stdin closes. `POST /register {"rooms":[0,3]}` → `{"user","token"}`
 * (set-up only), `POST /chats/:room/messages` (bearer) → 201, `GET /ws?token=…` → the room's frames.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type WebSocket, WebSocketServer } from 'ws';

const env = process.env;
// Connections stay open, so the bench can count their backends' CPU for a whole level.
const pool = new pg.Pool({
  connectionString: env.RELAY_DATABASE_URL,
  max: 10,
  idleTimeoutMillis: 0,
});
const redis = new Redis(env.RELAY_REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = redis.duplicate();
const channel = `${env.RELAY_PREFIX ?? 'relay'}:events`;

await pool.query(`CREATE TABLE IF NOT EXISTS relay_messages (
  id uuid PRIMARY KEY, room int NOT NULL, sender uuid NOT NULL, body jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now())`);

interface User {
  id: string;
  rooms: Set<number>;
}
const byTokenHash = new Map<string, User>();
const roomSockets = new Map<number, Set<WebSocket>>();
const hash = (t: string) => createHash('sha256').update(t).digest('base64url');

function userOf(req: http.IncomingMessage, token?: string | null): User | undefined {
  const t = token ?? /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  return t ? byTokenHash.get(hash(t)) : undefined;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

const INSERT =
  'INSERT INTO relay_messages (id, room, sender, body) VALUES ($1, $2, $3, $4) RETURNING created_at';

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/register') {
      const { rooms } = JSON.parse(await readBody(req)) as { rooms: number[] };
      const token = randomBytes(32).toString('base64url');
      const user = { id: randomUUID(), rooms: new Set(rooms) };
      byTokenHash.set(hash(token), user);
      return answer(res, 201, { user: user.id, token });
    }
    const m = /^\/chats\/(\d+)\/messages$/.exec(req.url ?? '');
    if (req.method === 'POST' && m) {
      const user = userOf(req);
      if (!user) return answer(res, 401, { type: 'unauthorized' });
      const room = Number(m[1]);
      if (!user.rooms.has(room)) return answer(res, 404, { type: 'not-found' });
      const body = JSON.parse(await readBody(req)) as { id: string };
      const { rows } = await pool.query<{ created_at: Date }>(INSERT, [
        body.id,
        room,
        user.id,
        body,
      ]);
      const message = { ...body, senderId: user.id, createdAt: rows[0]!.created_at.toISOString() };
      await redis.publish(
        channel,
        JSON.stringify({ type: 'message.created', chatId: String(room), message }),
      );
      return answer(res, 201, { message });
    }
    answer(res, 404, { type: 'not-found' });
  } catch (err) {
    answer(res, 500, { type: 'internal', detail: (err as Error).message });
  }
});

const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const user = userOf(req, url.searchParams.get('token'));
  if (url.pathname !== '/ws' || !user) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    for (const r of user.rooms) {
      const set = roomSockets.get(r) ?? new Set<WebSocket>();
      roomSockets.set(r, set);
      set.add(ws);
    }
    ws.on('close', () => {
      for (const r of user.rooms) roomSockets.get(r)?.delete(ws);
    });
    ws.on('error', () => undefined);
  });
});

sub.on('message', (_ch: string, payload: string) => {
  const room = Number((JSON.parse(payload) as { chatId: string }).chatId);
  for (const ws of roomSockets.get(room) ?? []) ws.send(payload);
});
await sub.subscribe(channel);

server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  server.close();
  void Promise.allSettled([pool.end(), redis.quit(), sub.quit()]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
