import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatEvents } from '../../../src/chat/events.ts';
import type { AgentStatusEvent } from '../../../src/chat/types.ts';
import { closeRedis } from '../../../src/redis.ts';
import { AgentRunService } from '../../../src/workers/agent-runs/agent-run.service.ts';
import { AgentRunsRepository } from '../../../src/workers/agent-runs/agent-runs.repository.ts';
import { agentRunsWorker } from '../../../src/workers/agent-runs/agent-runs.worker.ts';
import { outboxRelay, type RunningWorker } from '../../../src/workers/index.ts';
import { OutboxRepository } from '../../../src/workers/outbox.repository.ts';
import { Queues } from '../../../src/workers/queues.ts';
import { silentLogger, testConfig } from '../../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { TEST_REDIS_URL } from '../../helpers/env.ts';
import { LaggingProxy } from '../../helpers/lagging-proxy.ts';
import { until } from '../../helpers/wait.ts';

const never = () => {
  throw new Error('not reached: the run fails before it needs a token or the gateway');
};

describe('agent run statuses', () => {
  const config = testConfig({ VUTLER_REDIS_PREFIX: `so${randomBytes(5).toString('hex')}` });
  let db: TestDatabase;
  let redis: Redis;
  let proxy: LaggingProxy;
  let lateRedis: Redis;
  let subscriber: Redis;
  let relay: RunningWorker;
  let worker: ReturnType<typeof agentRunsWorker>;
  const statuses: AgentStatusEvent[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    // The relay's pub/sub connection reaches Redis 150 ms late; the worker's does not.
    proxy = await LaggingProxy.start(TEST_REDIS_URL, { toServerMs: 150 });
    lateRedis = new Redis(proxy.url, { maxRetriesPerRequest: 2 });
    subscriber = new Redis(TEST_REDIS_URL);
    subscriber.on('message', (_c: string, payload: string) => {
      const e = JSON.parse(payload) as { type: string };
      if (e.type === 'agent.status') statuses.push(e as AgentStatusEvent);
    });
    await subscriber.subscribe(`${config.redis.prefix}:chat-events`);
    const events = new ChatEvents(redis, config.redis.prefix, silentLogger);
    // A worker that fails a run at once: its mention is not in the database ("message-gone").
    const service = new AgentRunService(
      config,
      new AgentRunsRepository(db.pool),
      new OutboxRepository(db.pool),
      { mintForRun: never, discardRunToken: never },
      never,
      undefined,
      (e) => events.publish(e),
      silentLogger,
    );
    worker = agentRunsWorker(config, redis, service, silentLogger);
    await worker.waitUntilReady();
    relay = await outboxRelay({
      config,
      logger: silentLogger,
      pool: db.pool,
      redis,
      apiRedis: lateRedis,
    });
  });
  afterAll(async () => {
    await relay.close();
    await worker.close();
    const queues = new Queues(config, redis);
    await queues.get('agent-runs').obliterate({ force: true });
    await queues.close();
    await closeRedis(subscriber);
    lateRedis.disconnect();
    await proxy.close();
    redis.disconnect();
    await db.drop();
  });

  it('publishes queued before any status a worker publishes, even when the worker fails at once', async () => {
    const data = {
      chatId: randomUUID(),
      messageId: randomUUID(),
      agentName: 'claude',
      userId: randomUUID(),
    };
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO outbox (queue, job_name, payload) VALUES ('agent-runs', 'agent-run', $1) RETURNING id`,
      [JSON.stringify(data)],
    );
    const runId = rows[0]!.id;
    const ofRun = () => statuses.filter((s) => s.runId === runId);
    await until(() => ofRun().length >= 2, 'queued and failed', 10_000);
    expect(ofRun().map((s) => s.status)).toEqual(['queued', 'failed']);
    expect(ofRun()[1]).toMatchObject({ code: 'message-gone' });
  });
});
