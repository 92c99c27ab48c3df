import { describe, expect, it } from 'vitest';
import { replyIdFor } from '../../../src/workers/agent-runs/reply-id.ts';
import { useTestServer } from '../../helpers/app.ts';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

describe('post_message with a caller-chosen messageId (what makes agent replies exactly-once)', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  async function agentIn(url: string, ownerName: string, agentName: string) {
    const owner = await person(url, ownerName);
    const peer = await person(url, `${ownerName}-peer`);
    const chat = await owner.client.chats.create({ kind: 'direct', memberIds: [peer.id] });
    const { token } = await owner.client.createAgentToken({ agentName });
    await owner.client.agents.setPermission({
      agentName,
      resourceType: 'chat',
      accessLevel: 'decrypt_ephemeral',
      conditions: { allow_write: true },
    });
    await owner.client.agents.grantChat(chat.id, agentName);
    await peer.client.agents.gateway(); // pins the gateway key on the peer's device
    return { owner, peer, chat, mcp: await mcpClient(url, token) };
  }

  it('stores one message for two posts under one id, concurrent or not, and answers both with it', async () => {
    const a = await agentIn(t.server.url, 'alice', 'claude');
    const messageId = replyIdFor(crypto.randomUUID(), new Date());
    const post = (text: string) =>
      a.mcp.callTool({ name: 'post_message', arguments: { chatId: a.chat.id, text, messageId } });
    const [one, two] = await Promise.all([post('first'), post('second')]);
    const three = await post('third');
    for (const r of [one, two, three]) {
      expect(r.isError).toBeFalsy();
      expect((r.structuredContent as { messageId: string }).messageId).toBe(messageId);
    }
    const stored = await t.db.pool.query(
      'SELECT id FROM messages WHERE chat_id = $1 AND sender_agent = $2',
      [a.chat.id, 'claude'],
    );
    expect(stored.rows).toEqual([{ id: messageId }]);
    const seen = (await a.peer.client.chats.history(a.chat.id)).find((m) => m.id === messageId);
    expect(seen?.status).toBe('ok');
    expect(['first', 'second']).toContain(seen?.body?.text);
    await a.mcp.close();
  });

  it('refuses an id another agent or person already used, storing nothing', async () => {
    const a = await agentIn(t.server.url, 'carol', 'claude');
    const b = await agentIn(t.server.url, 'dave', 'helper');
    const messageId = replyIdFor(crypto.randomUUID(), new Date());
    const first = await a.mcp.callTool({
      name: 'post_message',
      arguments: { chatId: a.chat.id, text: 'mine', messageId },
    });
    expect(first.isError).toBeFalsy();
    const taken = await b.mcp.callTool({
      name: 'post_message',
      arguments: { chatId: b.chat.id, text: 'theirs', messageId },
    });
    expect(errorCode(taken)).toBe('duplicate-id');
    const agentRows = async (chatId: string) =>
      (
        await t.db.pool.query(
          'SELECT id FROM messages WHERE chat_id = $1 AND sender_agent IS NOT NULL',
          [chatId],
        )
      ).rows;
    expect(await agentRows(a.chat.id)).toEqual([{ id: messageId }]);
    expect(await agentRows(b.chat.id)).toEqual([]);
    const mine = (await a.peer.client.chats.history(a.chat.id)).find((m) => m.id === messageId);
    expect(mine?.body?.text).toBe('mine');
    const notV7 = await a.mcp.callTool({
      name: 'post_message',
      arguments: { chatId: a.chat.id, text: 'x', messageId: crypto.randomUUID() },
    });
    expect(notV7.isError).toBe(true);
    await a.mcp.close();
    await b.mcp.close();
  });
});
