import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VutlerApiError } from '../../../src/client/index.ts';
import { useTestServer } from '../../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient, textOf } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const keyLine = await gatewayKeyLine();
const dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-fed-'));
const upstreamsFile = path.join(dir, 'upstreams.json');
const memoryFile = path.join(dir, 'memory.jsonl');
const SERVER_MEMORY = path.resolve(
  'node_modules/@modelcontextprotocol/server-memory/dist/index.js',
);

/** What the HTTP upstream saw on each request. */
const seenHeaders: Array<Record<string, string>> = [];

/** A real MCP server over Streamable HTTP (the SDK's), recording the headers it receives. */
async function startHttpUpstream() {
  const s = serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (req: Request) => {
      seenHeaders.push(Object.fromEntries(req.headers.entries()));
      const server = new McpServer({ name: 'echo', version: '1.0.0' });
      server.registerTool(
        'shout',
        {
          description: 'Upper-cases its input',
          inputSchema: { text: z.string() },
          annotations: { readOnlyHint: true },
        },
        async ({ text }) => ({ content: [{ type: 'text', text: text.toUpperCase() }] }),
      );
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      return transport.handleRequest(req);
    },
  });
  await new Promise<void>((r) => s.once('listening', () => r()));
  const addr = s.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/mcp`,
    close: () =>
      new Promise<void>((r) => {
        s.close(() => r());
        if ('closeAllConnections' in s) s.closeAllConnections();
      }),
  };
}

let httpUpstream: Awaited<ReturnType<typeof startHttpUpstream>>;
beforeAll(async () => {
  httpUpstream = await startHttpUpstream();
  await writeFile(
    upstreamsFile,
    JSON.stringify({
      upstreams: {
        kb: {
          command: process.execPath,
          args: [SERVER_MEMORY],
          env: { MEMORY_FILE_PATH: memoryFile },
        },
        echo: { url: httpUpstream.url, headers: { 'x-upstream-key': 'upstream-secret' } },
      },
    }),
  );
});
afterAll(async () => {
  await httpUpstream?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('upstream MCP federation', () => {
  const ctx = useTestServer({ VUTLER_GATEWAY_KEY: keyLine, VUTLER_UPSTREAMS_FILE: upstreamsFile });

  it('re-exposes server-memory’s tools behind the permission check, with audit', async () => {
    const alice = await person(ctx.server.url, 'alice');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    const mcp = await mcpClient(ctx.server.url, token);
    const listed = async () => (await mcp.listTools()).tools.map((t) => t.name);

    expect((await listed()).filter((n) => n.startsWith('kb__'))).toEqual([]);
    const refused = await mcp.callTool({ name: 'kb__read_graph', arguments: {} });
    expect(errorCode(refused)).toBe('no-permission');

    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'upstream:kb',
      accessLevel: 'metadata',
    });
    const readOnly = await listed();
    expect(readOnly).toEqual(expect.arrayContaining(['kb__read_graph', 'kb__search_nodes']));
    expect(readOnly).not.toContain('kb__create_entities');
    const entity = { name: 'Alice', entityType: 'person', observations: ['drinks green tea'] };
    const noWrite = await mcp.callTool({
      name: 'kb__create_entities',
      arguments: { entities: [entity] },
    });
    expect(errorCode(noWrite)).toBe('write-not-allowed');

    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'upstream:kb',
      accessLevel: 'metadata',
      conditions: { allow_write: true },
    });
    const created = await mcp.callTool({
      name: 'kb__create_entities',
      arguments: { entities: [entity] },
    });
    expect(created.isError, textOf(created)).toBeFalsy();
    const found = await mcp.callTool({ name: 'kb__search_nodes', arguments: { query: 'tea' } });
    expect(found.isError, textOf(found)).toBeFalsy();
    expect(JSON.stringify(found.structuredContent)).toContain('drinks green tea');
    // It really went to the upstream process, which wrote its own file.
    expect(await readFile(memoryFile, 'utf8')).toContain('drinks green tea');
    // Bad input is the upstream's to refuse, and stays a tool error.
    const bad = await mcp.callTool({
      name: 'kb__create_entities',
      arguments: { entities: 'nope' },
    });
    expect(bad.isError).toBe(true);

    const audit = await ctx.db.pool.query<{
      tool_name: string;
      outcome: string;
      reason: string | null;
    }>(
      `SELECT tool_name, outcome, reason FROM decryption_audit_log
        WHERE user_id = $1 AND resource_type = 'upstream:kb' ORDER BY log_seq`,
      [alice.id],
    );
    expect(audit.rows.map((r) => `${r.tool_name}:${r.outcome}:${r.reason ?? ''}`)).toEqual([
      'kb__read_graph:denied:no-permission',
      'kb__create_entities:denied:write-not-allowed',
      'kb__create_entities:allowed:',
      'kb__search_nodes:allowed:',
      'kb__create_entities:allowed:',
    ]);
    await mcp.close();
  });

  it('calls an HTTP upstream with its configured headers only, never the agent’s token', async () => {
    const alice = await person(ctx.server.url, 'alice');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'upstream:echo',
      accessLevel: 'metadata',
    });
    const mcp = await mcpClient(ctx.server.url, token);
    const r = await mcp.callTool({ name: 'echo__shout', arguments: { text: 'hello' } });
    expect(textOf(r)).toBe('HELLO');
    expect(seenHeaders.length).toBeGreaterThan(0);
    expect(seenHeaders.every((h) => h['x-upstream-key'] === 'upstream-secret')).toBe(true);
    expect(JSON.stringify(seenHeaders)).not.toContain(token);
    expect(JSON.stringify(seenHeaders)).not.toContain('vta_');
    expect(seenHeaders.some((h) => 'authorization' in h)).toBe(false);
    await mcp.close();
  });

  it('rejects a malformed upstream permission type with a 4xx', async () => {
    const alice = await person(ctx.server.url, 'alice');
    const err = await alice.client.agents
      .setPermission({
        agentName: 'claude',
        resourceType: 'upstream:Bad!' as never,
        accessLevel: 'metadata',
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VutlerApiError);
    expect((err as VutlerApiError).status).toBe(422);
  });
});

describe('upstream MCP federation: rate limits', () => {
  const ctx = useTestServer({
    VUTLER_GATEWAY_KEY: keyLine,
    VUTLER_UPSTREAMS_FILE: upstreamsFile,
    VUTLER_GATEWAY_RATE_TOOL: '2/60',
  });

  it('applies the per-token tool limit to federated tools', async () => {
    const alice = await person(ctx.server.url, 'alice');
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'upstream:kb',
      accessLevel: 'metadata',
    });
    const mcp = await mcpClient(ctx.server.url, token);
    const call = () => mcp.callTool({ name: 'kb__read_graph', arguments: {} });
    expect((await call()).isError).toBeFalsy();
    expect((await call()).isError).toBeFalsy();
    expect(errorCode(await call())).toBe('rate-limited');
    await mcp.close();
  });
});
