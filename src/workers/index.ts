import type { Logger } from 'pino';
import { createServices } from '../app.ts';
import type { AtRestKeyring } from '../atrest.ts';
import { ChatEvents } from '../chat/events.ts';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { DeploysService } from '../github/deploys.service.ts';
import { GithubRepository } from '../github/github.repository.ts';
import { GatewayDeployNotifier } from '../github/notifier.ts';
import type { Redis } from '../redis.ts';
import { loadServerSecrets } from '../secrets.ts';
import { AgentRunService } from './agent-runs/agent-run.service.ts';
import { AgentRunsRepository } from './agent-runs/agent-runs.repository.ts';
import { agentRunsWorker } from './agent-runs/agent-runs.worker.ts';
import { inProcessGateway } from './agent-runs/mcp-session.ts';
import { startAuditSealer } from './audit-sealer.ts';
import { deploySweeper, deploysWorker } from './deploys.ts';
import { QUEUE_NAMES } from './jobs.ts';
import { OutboxRelay } from './outbox.relay.ts';
import { OutboxRepository } from './outbox.repository.ts';
import { checkEvictionPolicy, Queues } from './queues.ts';

export interface WorkerDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  /** A connection with `maxRetriesPerRequest: null`, as BullMQ workers require. */
  redis: Redis;
  /** An ordinary client (fails fast) for pub/sub events and the gateway's rate limits. */
  apiRedis: Redis;
  /** The at-rest keyring (`loadAtRestKeyring`): the services the processors build need it. */
  atRest?: AtRestKeyring;
}

/** One running background component (a BullMQ worker, the outbox relay, ...). */
export interface RunningWorker {
  name: string;
  close: () => Promise<void>;
}

/** The outbox relay and reconciler, for every queue in `src/workers/jobs.ts`. */
export async function outboxRelay(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, logger, pool } = deps;
  const queues = new Queues(config, deps.redis);
  const events = new ChatEvents(deps.apiRedis, config.redis.prefix, logger);
  const relay = new OutboxRelay(pool, new OutboxRepository(pool), queues, logger, {
    queues: QUEUE_NAMES,
    pollMs: config.workers.outboxPollMs,
    reconcileMs: config.workers.outboxReconcileMs,
    // Before the add: a worker that fails the run at once publishes `failed` after this.
    onDispatching: async (jobs) => {
      const at = new Date().toISOString();
      await Promise.all(
        jobs.flatMap((j) =>
          j.queue !== 'agent-runs'
            ? []
            : events.publish({
                type: 'agent.status',
                chatId: j.data.chatId,
                agentName: j.data.agentName,
                runId: j.id,
                messageId: j.data.messageId,
                status: 'queued',
                at,
              }),
        ),
      );
    },
  });
  await relay.start();
  return {
    name: 'outbox-relay',
    close: async () => {
      await relay.stop();
      await queues.close();
    },
  };
}

/** The app's services as a worker uses them: on the API Redis, with the gateway's keys loaded. */
async function keyedServices(deps: WorkerDeps) {
  const services = createServices({
    config: deps.config,
    logger: deps.logger,
    pool: deps.pool,
    redis: deps.apiRedis,
    secrets: await loadServerSecrets(deps.config),
    atRest: deps.atRest,
  });
  await services.gateway.keyed();
  return services;
}

/** `agent-runs`: Claude answering mentions through the gateway's tools. */
async function agentRuns(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, logger, pool } = deps;
  const services = await keyedServices(deps);
  // Only the agent-runs worker loads the Anthropic SDK (a serve node does not).
  const { anthropicClient } = await import('./agent-runs/model.ts');
  const model = anthropicClient(config);
  if (!model)
    logger.warn(
      'ANTHROPIC_API_KEY is not set: agent mentions will fail with "no Anthropic key configured"',
    );
  const service = new AgentRunService(
    config,
    new AgentRunsRepository(pool),
    new OutboxRepository(pool),
    services.agentTokens,
    inProcessGateway(services.agentTokens, services.gateway),
    model,
    (event) => services.chatEvents.publish(event),
    logger,
  );
  const worker = agentRunsWorker(config, deps.redis, service, logger);
  await worker.waitUntilReady();
  return { name: 'agent-runs', close: () => worker.close() };
}

/** `deploys`: GitHub auto-deploys, their statuses and chat notes; plus the stale-deploy sweeper. */
async function deploys(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, logger, pool } = deps;
  const services = await keyedServices(deps);
  const { secrets } = await services.github.parts();
  const service = new DeploysService(
    config.github,
    pool,
    new GithubRepository(pool),
    secrets,
    new GatewayDeployNotifier(
      services.agentTokens,
      inProcessGateway(services.agentTokens, services.gateway),
    ),
    logger,
  );
  const worker = deploysWorker(config, deps.redis, service, new OutboxRepository(pool), logger);
  await worker.waitUntilReady();
  const stopSweeper = deploySweeper(service, config.github.sweepMs, logger);
  return {
    name: 'deploys',
    close: async () => {
      stopSweeper();
      await worker.close();
    },
  };
}

/** Registered worker factories. Feature issues add theirs here. */
export const workerFactories: Array<(deps: WorkerDeps) => Promise<RunningWorker> | RunningWorker> =
  [agentRuns, deploys, outboxRelay];

export async function startWorkers(deps: WorkerDeps): Promise<RunningWorker[]> {
  await checkEvictionPolicy(deps.redis, deps.logger);
  const running: RunningWorker[] = [];
  try {
    for (const factory of workerFactories) running.push(await factory(deps));
  } catch (err) {
    await Promise.all(running.map((w) => w.close().catch(() => undefined)));
    throw err;
  }
  deps.logger.info({ workers: running.map((w) => w.name) }, 'workers started');
  return running;
}

workerFactories.push(startAuditSealer);
