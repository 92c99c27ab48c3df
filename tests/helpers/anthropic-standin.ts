import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * A local stand-in for the Anthropic Messages API (`POST /v1/messages`), for the real
 * `@anthropic-ai/sdk` pointed at it by base URL. It answers as the API does: a JSON `message`,
 * or with `stream: true` the SSE events (message_start, content_block_start/delta/stop with
 * text_delta and input_json_delta, message_delta, message_stop, ping), and errors as
 * `{"type":"error","error":{…}}` with the API's status codes (429 with retry-after, 529
 * overloaded). Each test scripts the replies; every request is recorded.
 */

export type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export type Reply =
  | { kind: 'message'; content: Block[]; stopReason: string }
  | {
      kind: 'error';
      status: number;
      type: string;
      message: string;
      headers?: Record<string, string>;
    };

export interface RecordedRequest {
  headers: IncomingMessage['headers'];
  body: {
    model: string;
    max_tokens: number;
    system?: unknown;
    messages: { role: string; content: unknown }[];
    tools?: { name: string; description?: string; input_schema: unknown }[];
    tool_choice?: unknown;
    stream?: boolean;
  };
  at: number;
}

export type Script = (req: RecordedRequest, index: number) => Reply | Promise<Reply>;

export const text = (t: string): Reply => ({
  kind: 'message',
  content: [{ type: 'text', text: t }],
  stopReason: 'end_turn',
});

export const toolUse = (name: string, input: Record<string, unknown>, preface?: string): Reply => ({
  kind: 'message',
  content: [
    ...(preface ? [{ type: 'text' as const, text: preface }] : []),
    { type: 'tool_use', id: `toolu_${randomBytes(12).toString('hex')}`, name, input },
  ],
  stopReason: 'tool_use',
});

export const refusal = (): Reply => ({ kind: 'message', content: [], stopReason: 'refusal' });

export const rateLimited = (retryAfterSeconds: number): Reply => ({
  kind: 'error',
  status: 429,
  type: 'rate_limit_error',
  message: 'Number of request tokens has exceeded your per-minute rate limit.',
  headers: { 'retry-after': String(retryAfterSeconds) },
});

export const overloaded = (): Reply => ({
  kind: 'error',
  status: 529,
  type: 'overloaded_error',
  message: 'Overloaded',
});

export const badRequest = (message = 'messages: field required'): Reply => ({
  kind: 'error',
  status: 400,
  type: 'invalid_request_error',
  message,
});

/** The text of every content block of every message of a request (tool results included). */
export function requestText(r: RecordedRequest): string {
  const parts: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.text === 'string') parts.push(o.text);
      if (o.content !== undefined) walk(o.content);
    }
  };
  walk(r.body.messages);
  return parts.join('\n');
}

export interface AnthropicStandIn {
  url: string;
  requests: RecordedRequest[];
  /** Replaces the script; replies are consumed in order, then `fallback` answers. */
  script(replies: (Reply | Script)[], fallback?: Script): void;
  close(): Promise<void>;
}

function sse(res: ServerResponse, event: string, data: unknown) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function messageId() {
  return `msg_${randomBytes(12).toString('hex')}`;
}

function writeMessage(
  res: ServerResponse,
  req: RecordedRequest,
  reply: Extract<Reply, { kind: 'message' }>,
) {
  const id = messageId();
  const usage = { input_tokens: JSON.stringify(req.body.messages).length >> 2, output_tokens: 0 };
  const outputTokens = reply.content.reduce(
    (n, b) => n + (b.type === 'text' ? b.text.length >> 2 : 8),
    1,
  );
  const headers = { 'request-id': `req_${randomBytes(8).toString('hex')}` };
  if (!req.body.stream) {
    res.writeHead(200, { ...headers, 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        type: 'message',
        role: 'assistant',
        model: req.body.model,
        content: reply.content,
        stop_reason: reply.stopReason,
        stop_sequence: null,
        usage: { ...usage, output_tokens: outputTokens },
      }),
    );
    return;
  }
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model: req.body.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  sse(res, 'ping', { type: 'ping' });
  reply.content.forEach((block, index) => {
    if (block.type === 'text') {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'text', text: '' },
      });
      // Two deltas, as the API streams text in pieces.
      const half = Math.ceil(block.text.length / 2);
      for (const piece of [block.text.slice(0, half), block.text.slice(half)])
        if (piece)
          sse(res, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'text_delta', text: piece },
          });
    } else {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      const json = JSON.stringify(block.input);
      const cut = Math.ceil(json.length / 2);
      for (const piece of [json.slice(0, cut), json.slice(cut)])
        sse(res, 'content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: piece },
        });
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: reply.stopReason, stop_sequence: null },
    usage: { output_tokens: outputTokens },
  });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

function writeError(res: ServerResponse, reply: Extract<Reply, { kind: 'error' }>) {
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'request-id': `req_${randomBytes(8).toString('hex')}`,
    ...(reply.headers ?? {}),
  });
  res.end(JSON.stringify({ type: 'error', error: { type: reply.type, message: reply.message } }));
}

export async function startAnthropicStandIn(opts: { apiKey: string }): Promise<AnthropicStandIn> {
  const requests: RecordedRequest[] = [];
  let queue: (Reply | Script)[] = [];
  let fallback: Script = () => text('OK.');
  let served = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/messages') {
          writeError(res, {
            kind: 'error',
            status: 404,
            type: 'not_found_error',
            message: 'Not found',
          });
          return;
        }
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const key = req.headers['x-api-key'] ?? bearer;
        if (key !== opts.apiKey) {
          writeError(res, {
            kind: 'error',
            status: 401,
            type: 'authentication_error',
            message: 'invalid x-api-key',
          });
          return;
        }
        let body: RecordedRequest['body'];
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          writeError(res, badRequest('The request body is not valid JSON.') as never);
          return;
        }
        if (!body.model || !body.max_tokens || !Array.isArray(body.messages)) {
          writeError(res, badRequest('model, max_tokens and messages are required') as never);
          return;
        }
        const recorded: RecordedRequest = { headers: req.headers, body, at: Date.now() };
        requests.push(recorded);
        const next = queue.shift() ?? fallback;
        const reply = typeof next === 'function' ? await next(recorded, served) : next;
        served++;
        if (res.destroyed) return;
        if (reply.kind === 'error') writeError(res, reply);
        else writeMessage(res, recorded, reply);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(replies, fb) {
      queue = [...replies];
      if (fb) fallback = fb;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
