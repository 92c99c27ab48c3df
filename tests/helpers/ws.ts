import WebSocket from 'ws';

export interface RawSocket {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  open: Promise<void>;
  /** Resolves with the first frame (already received or still to come) that `pred` accepts. */
  frame(
    pred: (f: Record<string, unknown>) => boolean,
    what: string,
    ms?: number,
  ): Promise<Record<string, unknown>>;
}

/** A bare `ws` client that records every frame, for protocol-level tests. */
export function rawSocket(url: string, headers: Record<string, string> = {}): RawSocket {
  const ws = new WebSocket(url, { headers });
  const frames: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (d) => {
    frames.push(JSON.parse(d.toString()));
    for (const w of [...waiters]) w();
  });
  const open = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const frame = (pred: (f: Record<string, unknown>) => boolean, what: string, ms = 10_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const hit = frames.find(pred);
        if (!hit) return;
        cleanup();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { ws, frames, closed, open, frame };
}

/** An authenticated socket that has received `ready`. */
export async function helloSocket(url: string, token: string, cursors?: Record<string, number>) {
  const s = rawSocket(url);
  await s.open;
  s.ws.send(JSON.stringify({ type: 'hello', token, ...(cursors ? { cursors } : {}) }));
  await s.frame((f) => f.type === 'ready', 'ready');
  return s;
}

/** The close event, or a rejection naming `what` if it does not come within `ms`. */
export function closedWithin(
  s: { closed: Promise<{ code: number; reason: string }> },
  ms: number,
  what: string,
): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    s.closed.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not closed within ${ms} ms`)), ms);
    }),
  ]);
}
