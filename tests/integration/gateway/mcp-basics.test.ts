import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/client/index.ts';
import { TOOLS } from '../../../src/tools/index.ts';
import { useTestServer } from '../../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient, textOf } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';
import { until } from '../../helpers/wait.ts';

const key = await gatewayKeyLine();

describe('the MCP gateway over HTTP', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  it('lets an agent read a granted chat and post to it, verified by the members', async () => {
    const url = t.server.url;
    const alice = await person(url, 'alice');
    const bob = await person(url, 'bob');
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    await alice.client.chats.send(chat.id, 'hello from alice');
    await bob.client.chats.send(chat.id, 'hello from bob');
    await bob.client.chats.send(chat.id, 'not for agents', {
      decryptionPermissions: { agents: 'deny' },
    });
    const gone = await alice.client.chats.send(chat.id, 'soon deleted');
    await alice.client.chats.deleteMessage(chat.id, gone);
    const { token } = await alice.client.createAgentToken({ agentName: 'claude' });
    await alice.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    await alice.client.agents.grantChat(chat.id, 'claude');

    const mcp = await mcpClient(url, token);
    const tools = (await mcp.listTools()).tools.map((x) => x.name).sort();
    expect(tools).toEqual([
      'list_chats',
      'post_message',
      'read_messages',
      'search_messages',
      'whoami',
    ]);

    const listed = await mcp.callTool({ name: 'list_chats', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(
      (listed.structuredContent as { chats: { id: string; readable: boolean }[] }).chats,
    ).toEqual([expect.objectContaining({ id: chat.id, readable: true })]);

    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId: chat.id } });
    expect(read.isError).toBeFalsy();
    const msgs = (read.structuredContent as { messages: { status: string; text?: string }[] })
      .messages;
    expect(msgs.map((m) => [m.status, m.text])).toEqual([
      ['ok', 'hello from alice'],
      ['ok', 'hello from bob'],
      ['withheld', undefined],
      ['deleted', undefined],
    ]);
    // The documented message shape, in that order; content only on opened messages.
    expect(msgs.map((m) => Object.keys(m))).toEqual([
      ['id', 'seq', 'senderId', 'senderAgent', 'createdAt', 'status', 'text', 'replyTo'],
      ['id', 'seq', 'senderId', 'senderAgent', 'createdAt', 'status', 'text', 'replyTo'],
      ['id', 'seq', 'senderId', 'senderAgent', 'createdAt', 'status'],
      ['id', 'seq', 'senderId', 'senderAgent', 'createdAt', 'status'],
    ]);
    expect(textOf(read)).not.toContain('not for agents');
    expect(textOf(read)).not.toContain('soon deleted');

    await bob.client.agents.gateway(); // Bob's device pins the gateway key it checks agents with
    const live: ChatMessage[] = [];
    const sub = await bob.client.live({
      onEvent: (e) => {
        if (e.type === 'message') live.push(e.message);
      },
    });
    const posted = await mcp.callTool({
      name: 'post_message',
      arguments: { chatId: chat.id, text: 'hello from claude' },
    });
    expect(posted.isError, textOf(posted)).toBeFalsy();
    await until(
      () => live.some((m) => m.body?.text === 'hello from claude'),
      'the agent message, live',
    );
    expect(live.find((m) => m.body?.text === 'hello from claude')).toMatchObject({
      status: 'ok',
      senderId: alice.id,
    });
    sub.close();
    const history = await bob.client.chats.history(chat.id);
    const last = history[history.length - 1]!;
    expect(last).toMatchObject({
      status: 'ok',
      senderId: alice.id,
      body: { text: 'hello from claude' },
    });

    const search = await mcp.callTool({
      name: 'search_messages',
      arguments: { query: 'FROM BOB' },
    });
    expect(
      (search.structuredContent as { matches: { text: string }[] }).matches.map((m) => m.text),
    ).toEqual(['hello from bob']);

    // The server leaves output validation to the schemas it publishes: every structured result
    // above must match its tool's output schema (zod, as declared) and the listed JSON Schema
    // (the SDK client checked that one when it called, having listed the tools first).
    for (const [name, r] of [
      ['list_chats', listed],
      ['read_messages', read],
      ['post_message', posted],
      ['search_messages', search],
    ] as const) {
      const tool = TOOLS.find((x) => x.name === name)!;
      expect(tool.outputSchema.safeParse(r.structuredContent).error, name).toBeUndefined();
    }

    const audit = await alice.client.agents.audit({ agentName: 'claude' });
    expect(audit.entries.map((e) => [e.toolName, e.outcome]).sort()).toEqual(
      [
        ['list_chats', 'allowed'],
        ['post_message', 'allowed'],
        ['read_messages', 'allowed'],
        ['search_messages', 'allowed'],
      ].sort(),
    );
    await mcp.close();
  });

  it('answers a foreign chat exactly like a chat that does not exist', async () => {
    const url = t.server.url;
    const carol = await person(url, 'carol');
    const dave = await person(url, 'dave');
    const erin = await person(url, 'erin');
    const foreign = await dave.client.chats.create({ kind: 'direct', memberIds: [erin.id] });
    const { token } = await carol.client.createAgentToken({ agentName: 'claude' });
    await carol.client.agents.setPermission({
      agentName: 'claude',
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    const mcp = await mcpClient(url, token);
    const ghost = '0190d5c2-0000-7000-8000-00000000abcd';
    for (const [name, extra] of [
      ['read_messages', {}],
      ['search_messages', { query: 'x' }],
      ['post_message', { text: 'x' }],
    ] as const) {
      const a = await mcp.callTool({ name, arguments: { chatId: foreign.id, ...extra } });
      const b = await mcp.callTool({ name, arguments: { chatId: ghost, ...extra } });
      expect(a.isError, name).toBe(true);
      expect(errorCode(a), name).toBe('not-found');
      expect(a, name).toEqual(b);
    }
    await mcp.close();
  });
});
