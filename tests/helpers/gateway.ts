import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { generateGatewayKeys } from '../../src/crypto/grants.ts';

/** A fresh gateway key line, for `VUTLER_GATEWAY_KEY` in `useTestServer` overrides. */
export async function gatewayKeyLine(): Promise<string> {
  return (await generateGatewayKeys()).serialized;
}

/** The SDK's own MCP client over Streamable HTTP, authenticated with an agent token. */
export async function mcpClient(baseUrl: string, token: string): Promise<Client> {
  const client = new Client({ name: 'vutler-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

export function textOf(r: unknown): string {
  const content = (r as CallToolResult).content ?? [];
  return content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

/** The `vutler/error` code of an `isError` result. */
export function errorCode(r: unknown): string | undefined {
  const meta = (r as CallToolResult)._meta as { 'vutler/error'?: { code?: string } } | undefined;
  return meta?.['vutler/error']?.code;
}
