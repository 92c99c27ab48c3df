/**
 * The baseline for bench/chat: a bare `ws` broadcast server. No auth, no persistence, no crypto,
 * no ordering: a client connects to `/?rooms=0,5`, and every text frame it sends
 * (`{"room":0,"text":"…"}`) goes as-is to the other sockets in that room.
 *
 * Run as a child process by bench/chat/index.ts (like the Vutler server, so both get their own
 * event loop); prints `{"port":N}` once listening and exits on SIGTERM/SIGINT or when stdin closes.
 */
import { WebSocket, WebSocketServer } from 'ws';

const rooms = new Map<number, Set<WebSocket>>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });

wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const mine = (url.searchParams.get('rooms') ?? '')
    .split(',')
    .filter((s) => s !== '')
    .map(Number);
  for (const r of mine) {
    const set = rooms.get(r) ?? new Set<WebSocket>();
    rooms.set(r, set);
    set.add(ws);
  }
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    let room: number;
    try {
      room = (JSON.parse(text) as { room: number }).room;
    } catch {
      return;
    }
    const peers = rooms.get(room);
    if (!peers?.has(ws)) return;
    for (const peer of peers) {
      if (peer !== ws && peer.readyState === WebSocket.OPEN) peer.send(text);
    }
  });
  ws.on('close', () => {
    for (const r of mine) rooms.get(r)?.delete(ws);
  });
  ws.on('error', () => undefined);
});

wss.on('listening', () => {
  const addr = wss.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

const stop = () => {
  for (const c of wss.clients) c.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent holds our stdin: if it dies without cleaning up, we go too.
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
