import { describe, expect, it } from 'vitest';
import { type LiveEvent, openLive, type WebSocketConstructor } from '../../../src/client/live.ts';

/** The server's side of one WebSocket: the test sends frames as the server would. */
class ServerSocket {
  static last: ServerSocket | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(_url: string) {
    ServerSocket.last = this;
    queueMicrotask(() => this.onopen?.({}));
  }
  send(data: string): void {
    if ((JSON.parse(data) as { type: string }).type === 'hello') this.push({ type: 'ready' });
  }
  close(code = 1000, reason = ''): void {
    this.onclose?.({ code, reason });
  }
  push(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

const status = (runId: string, s: string, extra: Record<string, string> = {}) => ({
  type: 'agent.status',
  chatId: 'c1',
  agentName: 'claude',
  runId,
  messageId: 'm1',
  status: s,
  at: '2026-12-01T00:00:00.000Z',
  ...extra,
});

describe('openLive and agent runs', () => {
  it('never passes on a status that would take a run back, nor anything after it ended', async () => {
    const got: LiveEvent[] = [];
    let last!: () => void;
    const done = new Promise<void>((r) => (last = r));
    const live = await openLive(
      'ws://test',
      'token',
      { open: () => Promise.reject(new Error('no messages here')), hint: () => undefined },
      ServerSocket as unknown as WebSocketConstructor,
      {
        onEvent: (e) => {
          got.push(e);
          if (e.type === 'typing') last();
        },
      },
    );
    const ws = ServerSocket.last!;
    // Run 1 failed before the relay's late `queued` arrived; run 2 goes the normal way.
    ws.push(status('r1', 'failed', { code: 'no-api-key' }));
    ws.push(status('r1', 'queued'));
    ws.push(status('r2', 'queued'));
    ws.push(status('r2', 'thinking'));
    ws.push(status('r2', 'tool', { tool: 'search_messages' }));
    ws.push(status('r2', 'tool', { tool: 'read_messages' }));
    ws.push(status('r2', 'queued'));
    ws.push(status('r2', 'done', { replyId: 'x' }));
    ws.push(status('r2', 'done', { replyId: 'x' }));
    ws.push({ type: 'typing', chatId: 'c1', userId: 'u1' });
    await done;
    const runs = got.flatMap((e) =>
      e.type === 'agent.status' ? [`${e.runId}:${e.status}${e.tool ? `:${e.tool}` : ''}`] : [],
    );
    expect(runs).toEqual([
      'r1:failed',
      'r2:queued',
      'r2:thinking',
      'r2:tool:search_messages',
      'r2:tool:read_messages',
      'r2:done',
    ]);
    live.close();
  });
});
