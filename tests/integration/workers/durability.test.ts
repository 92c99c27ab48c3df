import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { text } from '../../helpers/anthropic-standin.ts';
import { findSecrets } from '../../helpers/canary.ts';
import { until } from '../../helpers/wait.ts';
import { agentChat, statusesOf, useAgentEnv } from '../../helpers/workers.ts';

async function agentReplies(pool: pg.Pool, chatId: string) {
  const { rows } = await pool.query<{ id: string }>(
    'SELECT id FROM messages WHERE chat_id = $1 AND sender_agent IS NOT NULL',
    [chatId],
  );
  return rows;
}

/** A model reply the test releases by hand, to act while a run is inside the model call. */
function held(answer: string) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const arrived = new Promise<void>((r) => (reached = r));
  return {
    reply: async () => {
      reached();
      await released;
      return text(answer);
    },
    arrived,
    release,
  };
}

describe('agent runs survive dead workers and a Redis that forgets', () => {
  const t = useAgentEnv();
  const canaries: string[] = [];

  it('lands the reply exactly once after kill -9 of the worker in the middle of the model call', async () => {
    const s = await agentChat(t.server.url, { secret: 'canary-kill-context-8c1f' });
    canaries.push('canary-kill-context-8c1f', 'canary-kill-answer-5e2a');
    const hold = held('canary-kill-answer-lost');
    t.standin.script([hold.reply], () => text('canary-kill-answer-5e2a'));
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude status?', {
      mentions: ['claude'],
    });
    await hold.arrived;
    await t.workers[0]!.kill9();
    hold.release();

    // A new worker takes over the job once the dead one's lock lapses (VUTLER_WORKER_LOCK_MS).
    await t.startWorker();
    await until(
      () => statusesOf(s.events, trigger.id).some((e) => e.status === 'done'),
      'the reply after the takeover',
      30_000,
    );
    const replies = await agentReplies(t.db.pool, s.chat.id);
    expect(replies).toHaveLength(1);
    const reply = (await s.bob.client.chats.history(s.chat.id)).find(
      (m) => m.id === replies[0]!.id,
    );
    expect(reply?.status).toBe('ok');
    expect(reply?.body?.text).toBe('canary-kill-answer-5e2a');
    const row = await t.db.pool.query(
      "SELECT outcome FROM outbox WHERE payload->>'messageId' = $1",
      [trigger.id],
    );
    expect(row.rows).toEqual([{ outcome: 'done' }]);
    s.live.close();
  });

  it('lands the reply exactly once when Redis is flushed mid-run: the reconciler re-enqueues, the second run finds one reply', async () => {
    const s = await agentChat(t.server.url, { secret: 'canary-flush-context-77d0' });
    canaries.push(
      'canary-flush-context-77d0',
      'canary-flush-answer-first',
      'canary-flush-answer-9b3e',
    );
    const hold = held('canary-flush-answer-first');
    t.standin.script([hold.reply], () => text('canary-flush-answer-9b3e'));
    const before = t.standin.requests.length;
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude summary please', {
      mentions: ['claude'],
    });
    await hold.arrived;
    await t.redis.flushall();
    // The row is not done and its job is gone: the reconciler adds it again, a second run
    // answers while the first still waits on the model.
    await until(
      () => t.standin.requests.length >= before + 2,
      'the re-enqueued run to reach the model',
      20_000,
    );
    await until(
      () => statusesOf(s.events, trigger.id).some((e) => e.status === 'done'),
      'the second run to reply',
      20_000,
    );
    hold.release();
    const runId = statusesOf(s.events, trigger.id)[0]!.runId;
    const finished = () =>
      t.workers
        .flatMap((w) => w.lines)
        .filter((l) => l.includes('"agent run finished"') && l.includes(runId)).length;
    await until(() => finished() >= 2, 'the first run to finish too', 20_000);

    const replies = await agentReplies(t.db.pool, s.chat.id);
    expect(replies).toHaveLength(1);
    const reply = (await s.alice.client.chats.history(s.chat.id)).find(
      (m) => m.id === replies[0]!.id,
    );
    expect(reply?.body?.text).toBe('canary-flush-answer-9b3e');
    s.live.close();
  });

  it('leaves no plaintext in Redis (keys, values, job payloads), PostgreSQL or the worker logs', async () => {
    expect(canaries.length).toBeGreaterThan(0);
    const needles = [...canaries, t.apiKey].map((value) => ({ label: value, value }));
    expect(await findSecrets(t.db.pool, t.redis, needles)).toEqual([]);
    const logs = t.workers.flatMap((w) => w.lines).join('\n');
    expect(logs).toContain('agent run finished');
    for (const c of [...canaries, t.apiKey]) expect(logs).not.toContain(c);
    // Job payloads carry ids only.
    const keys = await t.redis.keys('*:bull:agent-runs:*');
    const jobs = [];
    for (const k of keys)
      if ((await t.redis.type(k)) === 'hash') jobs.push(await t.redis.hget(k, 'data'));
    const payloads = jobs.filter((d): d is string => !!d).map((d) => JSON.parse(d));
    expect(payloads.length).toBeGreaterThan(0);
    for (const p of payloads)
      expect(Object.keys(p).sort()).toEqual(['agentName', 'chatId', 'messageId', 'userId']);
  });
});

describe('agent runs without an Anthropic key', () => {
  const t = useAgentEnv({ worker: { ANTHROPIC_API_KEY: '' } });

  it('start, and answer a mention with failed: no Anthropic key configured', async () => {
    const s = await agentChat(t.server.url);
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude anyone?', {
      mentions: ['claude'],
    });
    await until(
      () => statusesOf(s.events, trigger.id).some((e) => e.status === 'failed'),
      'the failed status',
      20_000,
    );
    expect(statusesOf(s.events, trigger.id).at(-1)).toMatchObject({
      code: 'no-api-key',
      reason: 'no Anthropic key configured',
    });
    expect(t.standin.requests).toHaveLength(0);
    expect(t.workers[0]!.lines.join('\n')).toContain('ANTHROPIC_API_KEY is not set');
    s.live.close();
  });

  it('warns at start, naming the policy, when Redis may evict jobs', async () => {
    expect(t.workers[0]!.lines.join('\n')).not.toContain('maxmemory-policy is');
    await t.redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const w = await t.startWorker({ ANTHROPIC_API_KEY: '' });
      expect(w.lines.join('\n')).toContain(
        'Redis maxmemory-policy is \\"allkeys-lru\\", not \\"noeviction\\"',
      );
      await w.stop();
    } finally {
      await t.redis.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });
});
