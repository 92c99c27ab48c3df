/**
 * The baseline for bench/mcp: a bare MCP SDK server with one tool returning a constant, on the
 * same transport as Vutler's /mcp (stateless Streamable HTTP, a fresh server and transport per
 * request, JSON responses, mounted in Hono). No auth, no database, no crypto. Prints {"port"}.
 */
import { serve } from '@hono/node-server';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { z } from 'zod';

const app = new Hono();
app.post('/mcp', async (c) => {
  const server = new McpServer({ name: 'baseline', version: '1.0.0' });
  server.registerTool(
    'constant',
    {
      description: 'Returns a constant.',
      inputSchema: z.object({}).strict(),
      outputSchema: z.object({ value: z.string() }),
    },
    async () => ({
      content: [{ type: 'text', text: 'constant' }],
      structuredContent: { value: 'constant' },
    }),
  );
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  await server.connect(transport);
  try {
    return await transport.handleRequest(c.req.raw);
  } finally {
    await server.close();
  }
});
const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => {
  const addr = s.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`,
  );
});
process.on('SIGTERM', () => s.close(() => process.exit(0)));
