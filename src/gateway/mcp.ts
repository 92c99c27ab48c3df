import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  type CallToolResult,
  ListToolsRequestSchema,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AuditUnavailableError } from '../audit/audit.service.ts';
import { UnauthorizedError } from '../errors.ts';
import type { GithubToolsService } from '../github/tools.service.ts';
import { serializeError } from '../http/problem.ts';
import type { MemoryToolsService } from '../memory/memory-tools.service.ts';
import { metrics } from '../metrics.ts';
import type { ToolContext, ToolDef } from '../tools/tool.ts';
import type { AgentCaller } from './access.ts';
import type { CallMeta, ChatToolsService } from './chat-tools.service.ts';
import type { FileToolsService } from './file-tools.service.ts';
import type { GatewayRateLimits } from './rate-limit.ts';
import { ToolRefusal } from './refusal.ts';
import type { PermissionView } from './types.ts';

export const SERVER_INFO = { name: 'vutler-gateway', version: '0.1.0' };

export interface GatewayParts {
  chats: ChatToolsService;
  files: FileToolsService;
  memory: MemoryToolsService;
  /** Upstream MCP servers' tools, when `VUTLER_UPSTREAMS_FILE` configures some. */
  federation?: { tools: () => ToolDef[] };
  limits: GatewayRateLimits;
  logger: Logger;
  gatewayFingerprint: string;
  tools: ToolDef[];
  github?: GithubToolsService;
}

/** How one MCP connection finds out who calls (per request over HTTP, per call over stdio). */
export interface CallerSource {
  caller: (extra: unknown) => Promise<AgentCaller & { tokenExpiresAt: Date }>;
  meta: (extra: unknown) => Omit<CallMeta, 'toolName'>;
  /** The caller's permission rows, read when a call needs them (tools/list, whoami). */
  permissions: (caller: AgentCaller) => Promise<PermissionView[]>;
}

function refusalResult(
  message: string,
  hint: string,
  code: string,
  retryAfterSeconds?: number,
): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${message} ${hint}` }],
    _meta: { 'vutler/error': { code, hint, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) } },
  };
}

/**
 * The one place tool failures become MCP results: a refusal keeps its message and hint; a failed
 * audit says nothing was returned; anything else is logged and answered with the request id only,
 * so no internal message (which might name a key or a row) reaches the agent.
 */
async function runTool(
  parts: GatewayParts,
  source: CallerSource,
  tool: ToolDef,
  args: unknown,
  extra: unknown,
) {
  const meta = { ...source.meta(extra), toolName: tool.name };
  const started = performance.now();
  const result = await callTool(parts, source, tool, args, extra, meta);
  const code = (result._meta?.['vutler/error'] as { code?: string } | undefined)?.code;
  metrics.mcpCalls.inc({ tool: tool.name, outcome: result.isError ? (code ?? 'error') : 'ok' });
  metrics.mcpDuration.observe({ tool: tool.name }, (performance.now() - started) / 1000);
  // Names and codes only: never arguments or results.
  parts.logger.info(
    {
      tool: tool.name,
      ok: !result.isError,
      code: (result._meta?.['vutler/error'] as { code?: string } | undefined)?.code,
      ms: Math.round((performance.now() - started) * 10) / 10,
    },
    'mcp tool call',
  );
  return result;
}

async function callTool(
  parts: GatewayParts,
  source: CallerSource,
  tool: ToolDef,
  args: unknown,
  extra: unknown,
  meta: CallMeta,
): Promise<CallToolResult> {
  try {
    const caller = await source.caller(extra);
    await parts.limits.take(caller.tokenId, tool.name, caller.userId);
    const ctx: ToolContext = {
      caller,
      meta,
      chats: parts.chats,
      files: parts.files,
      memory: parts.memory,
      permissions: () => source.permissions(caller),
      gatewayFingerprint: parts.gatewayFingerprint,
      github: parts.github,
    };
    const out = await tool.run(args as never, ctx);
    if (out.raw) return out.raw;
    return {
      content: [
        { type: 'text' as const, text: out.text },
        ...(out.resource ? [{ type: 'resource' as const, resource: out.resource }] : []),
      ],
      structuredContent: out.structured as Record<string, unknown>,
    };
  } catch (err) {
    if (err instanceof ToolRefusal)
      return refusalResult(err.message, err.hint, err.code, err.retryAfterSeconds);
    if (err instanceof UnauthorizedError)
      return refusalResult(
        'The agent token is invalid, expired or revoked.',
        'Ask the owner for a new token.',
        'unauthorized',
      );
    if (err instanceof AuditUnavailableError)
      return refusalResult(
        'The access could not be audited, so nothing was returned.',
        'Retry later.',
        'audit-unavailable',
        5,
      );
    parts.logger.error({ err: serializeError(err), tool: tool.name }, 'tool failed');
    return refusalResult(`Internal error (request ${meta.requestId}).`, 'Retry later.', 'internal');
  }
}

const listings = new WeakMap<ToolDef, Tool>();

/**
 * The SDK builds a JSON Schema validator (a fresh Ajv with its formats) in every server it
 * constructs, a noticeable share of a request's CPU here since each request gets its own server.
 * It only checks elicitation answers, which this gateway never asks for: one serves them all.
 */
const jsonSchemaValidator = new AjvJsonSchemaValidator();

/** A tool as `tools/list` shows it (JSON Schema draft-07), computed once per tool per process. */
function listing(tool: ToolDef): Tool {
  if (tool.listing) return tool.listing;
  let l = listings.get(tool);
  if (!l) {
    l = {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: z.toJSONSchema(tool.inputSchema, {
        target: 'draft-7',
        io: 'input',
      }) as Tool['inputSchema'],
      outputSchema: z.toJSONSchema(tool.outputSchema, {
        target: 'draft-7',
        io: 'output',
      }) as Tool['outputSchema'],
      annotations: { title: tool.title, ...tool.annotations },
    };
    listings.set(tool, l);
  }
  return l;
}

/**
 * A fresh MCP server (one per HTTP request, stateless). Every tool is callable, so a call the
 * permissions refuse is still checked and audited; `tools/list` shows only the ones they allow.
 * `calls`, when given, names the tools this server will be asked to run (an HTTP request's
 * `tools/call`s): only those are registered, since building the SDK's entry for each of the
 * others would be thrown away with the server. An unknown name gets the SDK's own answer.
 */
export function buildMcpServer(
  parts: GatewayParts,
  source: CallerSource,
  now = () => new Date(),
  calls?: ReadonlySet<string>,
): McpServer {
  const server = new McpServer(SERVER_INFO, {
    capabilities: { tools: { listChanged: false } },
    jsonSchemaValidator,
    instructions:
      'Vutler gateway: end-to-end-encrypted chats this agent was granted. Every call is permission-checked and audited; content is decrypted for the call only.',
  });
  const tools = parts.federation ? [...parts.tools, ...parts.federation.tools()] : parts.tools;
  for (const tool of tools) {
    if (calls && !calls.has(tool.name)) continue;
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        // No outputSchema for the SDK: it would re-parse every structured result (50 messages
        // of a read_messages) with zod only to compare it with what the tool's types already
        // guarantee at compile time, and it strips nothing. `tools/list` (below) still
        // publishes each output schema, which MCP clients validate results against (the SDK's
        // Client does). A federated tool's output is the upstream's to describe.
        annotations: { title: tool.title, ...tool.annotations },
      },
      ((args: unknown, extra: unknown) => runTool(parts, source, tool, args, extra)) as never,
    );
  }
  // Replaces the SDK's listing (all registered tools) with the permitted ones, read per listing.
  server.server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => {
    const permissions = await source.permissions(await source.caller(extra));
    return { tools: tools.filter((t) => t.visible(permissions, now())).map(listing) };
  });
  return server;
}
