import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { TEST_REDIS_URL } from '../../helpers/env.ts';
import { errorCode, gatewayKeyLine } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();
const BIN = path.resolve('bin/vutler.js');

describe('vutler mcp --stdio', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('serves the same tools to the SDK stdio client, checking the token on every call', async () => {
    const alice = await person(t.server.url, 'alice');
    const bob = await person(t.server.url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await bob.client.chats.send(chat.id, 'over stdio');
    const issued = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
    });
    await alice.client.agents.grantChat(chat.id, 'claude');

    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--stdio'],
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: t.db.url,
        REDIS_URL: TEST_REDIS_URL,
        VUTLER_GATEWAY_KEY: key,
        VUTLER_AGENT_TOKEN: issued.token,
        VUTLER_REDIS_PREFIX: `t${Date.now().toString(36)}`,
        LOG_LEVEL: 'warn',
      },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const tools = (await client.listTools()).tools.map((x) => x.name).sort();
      expect(tools).toEqual(['list_chats', 'read_messages', 'search_messages', 'whoami']);
      const read = await client.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
      expect(
        (read.structuredContent as { messages: { text?: string }[] }).messages.map((m) => m.text),
      ).toEqual(['over stdio']);
      const rows = await t.db.pool.query(
        `SELECT outcome, user_agent FROM decryption_audit_log WHERE tool_name = 'read_messages' AND user_id = $1`,
        [alice.id],
      );
      expect(rows.rows).toEqual([{ outcome: 'allowed', user_agent: 'vutler-mcp-stdio' }]);
      await alice.client.agents.setPermission({
        agentName: 'claude',
        resourceType: 'chat',
        accessLevel: 'decrypt_ephemeral',
        conditions: { allow_write: true },
      });
      expect((await client.listTools()).tools.map((x) => x.name)).toContain('post_message');
      await alice.client.revokeAgentToken(issued.id);
      const after = await client.callTool({
        name: 'read_messages',
        arguments: { chatId: chat.id },
      });
      expect(after.isError).toBe(true);
      expect(errorCode(after)).toBe('unauthorized');
      expect(JSON.stringify(after)).not.toContain('over stdio');
    } finally {
      await client.close();
    }
  });
});
