import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  badRequest,
  overloaded,
  rateLimited,
  refusal,
  requestText,
  text,
  toolUse,
} from '../../helpers/anthropic-standin.ts';
import { until } from '../../helpers/wait.ts';
import { agentChat, statusesOf, useAgentEnv } from '../../helpers/workers.ts';

async function agentReplies(pool: pg.Pool, chatId: string) {
  const { rows } = await pool.query(
    'SELECT id, sender_agent FROM messages WHERE chat_id = $1 AND sender_agent IS NOT NULL',
    [chatId],
  );
  return rows as { id: string; sender_agent: string }[];
}

describe('agent runs from chat mentions (vutler worker + stand-in model)', () => {
  const t = useAgentEnv();

  it('answers a mention with an encrypted reply signed as the agent, built from the decrypted context', async () => {
    const s = await agentChat(t.server.url, { secret: 'the launch code is tangerine-42' });
    t.standin.script([
      toolUse('search_messages', { query: 'launch', chatId: s.chat.id }, 'Let me look.'),
      text('The launch code Bob mentioned is tangerine-42.'),
    ]);
    const before = t.standin.requests.length;
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude what did Bob say?', {
      mentions: ['claude'],
    });
    await until(
      () =>
        statusesOf(s.events, trigger.id).some((e) => e.status === 'done' || e.status === 'failed'),
      'the run to finish',
      20_000,
    );
    const statuses = statusesOf(s.events, trigger.id);
    // "queued" comes from the relay, the rest from the run, so only those are strictly ordered.
    expect(statuses.map((e) => e.status).sort()).toEqual(['done', 'queued', 'thinking', 'tool']);
    expect(statuses.filter((e) => e.status !== 'queued').map((e) => e.status)).toEqual([
      'thinking',
      'tool',
      'done',
    ]);
    expect(statuses.find((e) => e.status === 'tool')?.tool).toBe('search_messages');
    const replyId = statuses.find((e) => e.status === 'done')?.replyId;
    expect(replyId).toBeDefined();

    // Stored as the agent's; both members decrypt it and verify it ("ok": signed by the pinned
    // gateway key for an agent header naming claude on behalf of Alice, chained in order).
    expect(await agentReplies(t.db.pool, s.chat.id)).toEqual([
      { id: replyId, sender_agent: 'claude' },
    ]);
    for (const who of [s.alice, s.bob]) {
      const reply = (await who.client.chats.history(s.chat.id)).find((m) => m.id === replyId);
      expect(reply).toMatchObject({
        status: 'ok',
        senderId: s.alice.id,
        body: { text: 'The launch code Bob mentioned is tangerine-42.', replyTo: trigger.id },
      });
    }

    // The model saw the decrypted context and the tool's result, with the configured key/model.
    const seen = t.standin.requests.slice(before);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers.authorization ?? seen[0]!.headers['x-api-key']).toContain(t.apiKey);
    expect(seen[0]!.body.model).toBe('claude-test');
    expect(requestText(seen[0]!)).toContain('the launch code is tangerine-42');
    expect(requestText(seen[0]!)).toContain('@claude what did Bob say?');
    expect(seen[0]!.body.tools?.map((x) => x.name)).toContain('search_messages');
    expect(seen[0]!.body.tools?.map((x) => x.name)).not.toContain('post_message');
    expect(requestText(seen[1]!)).toContain('tangerine-42');
    const toolResult = JSON.stringify(seen[1]!.body.messages.at(-1));
    expect(toolResult).toContain('tool_result');

    const outbox = await t.db.pool.query(
      "SELECT outcome, failure, done_at FROM outbox WHERE payload->>'messageId' = $1",
      [trigger.id],
    );
    expect(outbox.rows).toEqual([{ outcome: 'done', failure: null, done_at: expect.any(Date) }]);
    // The run's token is gone; the audit log names the agent's reads and its post.
    const tokens = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM agent_tokens WHERE label = 'agent run (worker)'",
    );
    expect(tokens.rows[0].n).toBe(0);
    const audit = await t.db.pool.query(
      'SELECT tool_name, outcome FROM decryption_audit_log WHERE user_id = $1 AND agent_name = $2 ORDER BY decrypted_at',
      [s.alice.id, 'claude'],
    );
    expect(audit.rows.map((r) => r.tool_name)).toEqual(
      expect.arrayContaining(['read_messages', 'search_messages', 'post_message']),
    );
    s.live.close();
  });

  it('makes no model call without a grant and says so: failed, no grant for this chat', async () => {
    const s = await agentChat(t.server.url, { grant: false, secret: 'not for agents' });
    const before = t.standin.requests.length;
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude hello', {
      mentions: ['claude'],
    });
    await until(
      () => statusesOf(s.events, trigger.id).some((e) => e.status === 'failed'),
      'the failed status',
      20_000,
    );
    const failed = statusesOf(s.events, trigger.id).find((e) => e.status === 'failed');
    expect(failed).toMatchObject({ code: 'no-grant', reason: 'no grant for this chat' });
    expect(t.standin.requests.length).toBe(before);
    expect(await agentReplies(t.db.pool, s.chat.id)).toEqual([]);
    const outbox = await t.db.pool.query(
      "SELECT outcome, failure FROM outbox WHERE payload->>'messageId' = $1",
      [trigger.id],
    );
    expect(outbox.rows).toEqual([{ outcome: 'failed', failure: 'no-grant' }]);
    s.live.close();
  });

  it('retries a 429 after its retry-after and a 529, then posts exactly one reply', async () => {
    const s = await agentChat(t.server.url);
    t.standin.script([rateLimited(1), overloaded(), text('Third time lucky.')]);
    const before = t.standin.requests.length;
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude ping', {
      mentions: ['claude'],
    });
    await until(
      () =>
        statusesOf(s.events, trigger.id).some((e) => e.status === 'done' || e.status === 'failed'),
      'the run to finish',
      30_000,
    );
    expect(statusesOf(s.events, trigger.id).at(-1)?.status).toBe('done');
    const seen = t.standin.requests.slice(before);
    expect(seen).toHaveLength(3);
    // The second attempt waited for the 429's retry-after (1 s).
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(1000);
    const replies = await agentReplies(t.db.pool, s.chat.id);
    expect(replies).toHaveLength(1);
    const reply = (await s.alice.client.chats.history(s.chat.id)).find(
      (m) => m.id === replies[0]!.id,
    );
    expect(reply?.body?.text).toBe('Third time lucky.');
    s.live.close();
  });

  it('does not retry a 400 and reports it; reports a refusal as "the model refused"', async () => {
    const s = await agentChat(t.server.url);
    t.standin.script([badRequest(), refusal()]);
    const before = t.standin.requests.length;
    const first = await s.alice.client.chats.send(s.chat.id, '@claude one', {
      mentions: ['claude'],
    });
    await until(
      () => statusesOf(s.events, first.id).some((e) => e.status === 'failed'),
      'the first run to fail',
      20_000,
    );
    expect(statusesOf(s.events, first.id).at(-1)).toMatchObject({ code: 'model-rejected' });
    expect(t.standin.requests.length - before).toBe(1);
    const second = await s.alice.client.chats.send(s.chat.id, '@claude two', {
      mentions: ['claude'],
    });
    await until(
      () => statusesOf(s.events, second.id).some((e) => e.status === 'failed'),
      'the second run to fail',
      20_000,
    );
    expect(statusesOf(s.events, second.id).at(-1)).toMatchObject({
      code: 'model-refused',
      reason: 'the model refused',
    });
    expect(await agentReplies(t.db.pool, s.chat.id)).toEqual([]);
    s.live.close();
  });
});
