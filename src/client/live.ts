/** Live chat events over the WebSocket, decrypted in order. Browser `WebSocket` or `ws` in Node. */
import type { ChatEvent, MessageView } from '../wire/chat.ts';
import { VutlerClientError } from './http.ts';
import type { ChatMessage, LiveChats } from './types.ts';

interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What the server pushes, with `message.created` replaced by the decrypted, verified message. */
export type LiveEvent =
  | Exclude<ChatEvent, { type: 'message.created' }>
  | { type: 'message'; message: ChatMessage }
  | { type: 'error'; message: string };

export interface LiveOptions {
  /** Per chat, the last seq this device has: missed messages are replayed once, in order. */
  cursors?: Record<string, number>;
  onEvent: (event: LiveEvent) => void;
  onClose?: (code: number, reason: string) => void;
}

export interface LiveSubscription {
  /** Per chat, the highest seq received: pass it back as `cursors` to resume after a disconnect. */
  readonly cursors: Record<string, number>;
  typing(chatId: string): void;
  close(): void;
  /** Resolves with the close code. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** How far along a run each `agent.status` says it is: a run never goes back, and 3 is final. */
const RUN_PHASE: Record<Extract<ChatEvent, { type: 'agent.status' }>['status'], number> = {
  queued: 0,
  thinking: 1,
  tool: 2,
  done: 3,
  failed: 3,
};
/** Runs a subscription remembers the phase of (the oldest are forgotten first). */
const RUNS_REMEMBERED = 1_000;

/**
 * Whether an `agent.status` event moves its run on (or keeps it where it is). The relay's
 * `queued` and the worker's statuses come from different processes: one that arrives after the
 * run finished, or after a later phase, is stale and is not passed on.
 */
function runMovesOn(phases: Map<string, number>, ev: { runId: string; status: string }): boolean {
  const phase = RUN_PHASE[ev.status as keyof typeof RUN_PHASE] ?? 0;
  const seen = phases.get(ev.runId);
  if (seen !== undefined && (seen === 3 || phase < seen)) return false;
  phases.delete(ev.runId);
  phases.set(ev.runId, phase);
  if (phases.size > RUNS_REMEMBERED) phases.delete(phases.keys().next().value!);
  return true;
}

export function openLive(
  url: string,
  /** Absent: the session cookie sent with the upgrade authenticates (same-origin pages). */
  token: string | undefined,
  chats: LiveChats,
  WebSocketImpl: WebSocketConstructor,
  opts: LiveOptions,
): Promise<LiveSubscription> {
  const ws = new WebSocketImpl(url);
  const cursors: Record<string, number> = { ...(opts.cursors ?? {}) };
  const runPhases = new Map<string, number>();
  let chain = Promise.resolve();
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  const sub: LiveSubscription = {
    cursors,
    typing: (chatId) => ws.send(JSON.stringify({ type: 'typing', chatId })),
    close: () => ws.close(1000, 'bye'),
    closed,
  };
  return new Promise((resolve, reject) => {
    let ready = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token, cursors }));
    ws.onerror = () => undefined;
    ws.onclose = (ev) => {
      resolveClosed({ code: ev.code, reason: ev.reason });
      opts.onClose?.(ev.code, ev.reason);
      if (!ready)
        reject(new VutlerClientError('ws-closed', `WebSocket closed (${ev.code}): ${ev.reason}`));
    };
    ws.onmessage = (ev) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(String(ev.data)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (frame.type === 'ready') {
        ready = true;
        resolve(sub);
        return;
      }
      // Decryption is async; the chain keeps events in the order the server sent them.
      chain = chain.then(async () => {
        if (frame.type === 'message.created') {
          const view = frame.message as MessageView;
          cursors[view.chatId] = Math.max(cursors[view.chatId] ?? 0, view.seq);
          opts.onEvent({ type: 'message', message: await chats.open(view) });
        } else if (frame.type !== 'pong') {
          // Membership news is only a hint to re-fetch and verify the log.
          if (frame.type === 'key.rotated' || frame.type === 'member.changed')
            chats.hint(String(frame.chatId));
          if (
            frame.type === 'agent.status' &&
            !runMovesOn(runPhases, frame as { runId: string; status: string })
          )
            return;
          opts.onEvent(frame as LiveEvent);
        }
      });
    };
  });
}
