import {
  CallToolRequestSchema,
  InitializeRequestSchema,
  type JSONRPCError,
  ListToolsRequestSchema,
  PingRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

/** The request methods the gateway's MCP server handles, with the SDK's own schema for each. */
const SCHEMAS = new Map<string, { safeParse: (v: unknown) => { success: boolean } }>([
  ['initialize', InitializeRequestSchema],
  ['ping', PingRequestSchema],
  ['tools/list', ListToolsRequestSchema],
  ['tools/call', CallToolRequestSchema],
]);

function isRequest(m: unknown): m is { jsonrpc: '2.0'; id: string | number; method: string } {
  if (!m || typeof m !== 'object' || Array.isArray(m)) return false;
  const r = m as Record<string, unknown>;
  return (
    r.jsonrpc === '2.0' &&
    (typeof r.id === 'string' || (typeof r.id === 'number' && Number.isSafeInteger(r.id))) &&
    typeof r.method === 'string'
  );
}

/**
 * The SDK answers a known request whose params fail its schema (`tools/call` without params,
 * `arguments: null`, …) with -32603 Internal error and the zod issues as the message
 * (modelcontextprotocol/typescript-sdk#2284). JSON-RPC calls that the caller's error: -32602.
 * Splits a parsed body into those answers and the messages to hand to the transport.
 */
export function splitInvalidParams(body: unknown): { errors: JSONRPCError[]; rest: unknown[] } {
  const messages = Array.isArray(body) ? body : [body];
  const errors: JSONRPCError[] = [];
  const rest: unknown[] = [];
  for (const m of messages) {
    const schema = isRequest(m) ? SCHEMAS.get(m.method) : undefined;
    if (isRequest(m) && schema && !schema.safeParse(m).success) {
      errors.push({
        jsonrpc: '2.0',
        id: m.id,
        error: { code: -32602, message: `Invalid params for ${m.method}.` },
      });
    } else rest.push(m);
  }
  return { errors, rest };
}

/** The tool names a request's `tools/call` messages name (after `splitInvalidParams`). */
export function toolCallNames(messages: readonly unknown[]): Set<string> {
  const names = new Set<string>();
  for (const m of messages) {
    if (!isRequest(m) || m.method !== 'tools/call') continue;
    const name = (m as { params?: { name?: unknown } }).params?.name;
    if (typeof name === 'string') names.add(name);
  }
  return names;
}

/** Adds the -32602 answers to what the transport answered for the other messages. */
export async function withParamErrors(
  res: Response | undefined,
  errors: JSONRPCError[],
  batch: boolean,
): Promise<Response> {
  const headers = { 'content-type': 'application/json' };
  const answered: unknown[] = [];
  if (res && res.status === 200 && res.headers.get('content-type')?.includes('json')) {
    const j: unknown = await res.json();
    answered.push(...(Array.isArray(j) ? j : [j]));
  } else if (res && res.status !== 202) return res;
  const all = [...answered, ...errors];
  return new Response(JSON.stringify(batch ? all : all[0]), { status: 200, headers });
}
