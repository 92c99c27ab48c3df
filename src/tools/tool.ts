import type { CallToolResult, Tool, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { AgentCaller } from '../gateway/access.ts';
import type { CallMeta, ChatToolsService } from '../gateway/chat-tools.service.ts';
import type { FileToolsService } from '../gateway/file-tools.service.ts';
import type { PermissionView } from '../gateway/types.ts';
import type { GithubToolsService } from '../github/tools.service.ts';
import type { MemoryToolsService } from '../memory/memory-tools.service.ts';

/** What a tool handler gets for one call. */
export interface ToolContext {
  caller: AgentCaller & { tokenExpiresAt: Date };
  meta: CallMeta;
  chats: ChatToolsService;
  files: FileToolsService;
  memory: MemoryToolsService;
  /** The caller's permission rows (one query, on demand). */
  permissions: () => Promise<PermissionView[]>;
  gatewayFingerprint: string;
  /** The GitHub tools' service; absent where the connector is not wired (e.g. bare tests). */
  github?: GithubToolsService;
}

export interface ToolResult<O> {
  structured: O;
  /** The same result rendered for models that read only text content. */
  text: string;
  /** A binary result as an embedded resource (read_file of a non-text file). */
  resource?: { uri: string; mimeType: string; blob: string };
  /** A federated tool's upstream result, passed through as it came. */
  raw?: CallToolResult;
}

/** One MCP tool: a thin transport from validated input to a service call and back. */
export interface ToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: I;
  outputSchema: O;
  annotations: ToolAnnotations;
  /** What tools/list shows, verbatim (federated tools: the upstream's JSON Schemas). */
  listing?: Tool;
  /** Whether `tools/list` shows this tool to an agent with these permissions. */
  visible: (permissions: PermissionView[], now: Date) => boolean;
  run: (input: z.infer<I>, ctx: ToolContext) => Promise<ToolResult<z.infer<O>>>;
}

export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(
  def: ToolDef<I, O>,
): ToolDef<I, O> {
  return def;
}
