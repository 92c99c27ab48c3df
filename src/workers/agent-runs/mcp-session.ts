import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AgentTokenService } from '../../auth/agent-tokens.service.ts';
import type { Gateway } from '../../gateway/gateway.module.ts';
import { buildMcpServer } from '../../gateway/mcp.ts';
import { currentRequestId } from '../../log.ts';

export interface McpSession {
  listTools(): Promise<Tool[]>;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** Opens an MCP session as the holder of an agent token. */
export type McpConnector = (token: string) => Promise<McpSession>;

/**
 * The gateway's own MCP server, reached through the SDK's in-memory transport: the same tools,
 * token check on every call, permission checks, grants and audit as over `/mcp`, minus HTTP.
 */
export function inProcessGateway(tokens: AgentTokenService, gateway: Gateway): McpConnector {
  return async (token) => {
    const authenticate = async () => {
      const p = await tokens.authenticate(token);
      return {
        tokenId: p.tokenId,
        userId: p.userId,
        agentName: p.agentName,
        tokenExpiresAt: p.expiresAt,
      };
    };
    // No separate check here: the first call (tools/list) authenticates like every other.
    const keyed = await gateway.keyed();
    const requestId = currentRequestId() ?? randomUUID();
    const server = buildMcpServer(keyed.parts, {
      caller: authenticate,
      meta: () => ({ requestId, ip: null, userAgent: 'vutler-worker' }),
      permissions: (who) => gateway.access.permissionsOf(who),
    });
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'vutler-worker', version: '0.1.0' });
    await client.connect(clientSide);
    return {
      listTools: async () => (await client.listTools()).tools,
      call: async (name, args) =>
        (await client.callTool({ name, arguments: args })) as CallToolResult,
      close: async () => {
        await client.close().catch(() => undefined);
        await server.close().catch(() => undefined);
      },
    };
  };
}

export function textOf(r: CallToolResult): string {
  return (r.content ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

export function refusalCode(r: CallToolResult): string | undefined {
  const meta = r._meta as { 'vutler/error'?: { code?: string } } | undefined;
  return meta?.['vutler/error']?.code;
}
