import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text, toolUse } from '../helpers/anthropic-standin.ts';
import { mcpClient } from '../helpers/gateway.ts';
import { connectExampleRepo, deliver, pushPayload } from '../helpers/github.ts';
import { type GithubStandIn, startGithubStandIn } from '../helpers/github-standin.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { until } from '../helpers/wait.ts';
import { agentChat, statusesOf, useAgentEnv } from '../helpers/workers.ts';

const TOKEN = `metrics-${randomBytes(12).toString('hex')}`;
const AT_REST = `k1:${randomBytes(32).toString('base64')}`;

/**
 * A serve node's /metrics after a day in miniature — a message, a mention answered by the
 * worker, a direct MCP call, a webhook deploy — with a `vutler worker` in its own process: the
 * series of every kind moved, whichever process did the work.
 */
describe('GET /metrics after a scenario', () => {
  let github: GithubStandIn;
  beforeAll(async () => {
    github = await startGithubStandIn();
  });
  afterAll(() => github.close());
  const shared = () => ({
    VUTLER_AT_REST_KEYS: AT_REST,
    GITHUB_URL: github.url,
    GITHUB_API_URL: github.apiUrl,
    GITHUB_RETRY_BASE_MS: '10',
  });
  const t = useAgentEnv({
    worker: false,
    server: () => ({ ...shared(), VUTLER_METRICS_TOKEN: TOKEN }),
  });
  // biome-ignore lint/suspicious/noDuplicateTestHooks: the worker starts after useAgentEnv's hooks, the stand-in before them
  beforeAll(async () => {
    await t.startWorker(shared());
  });

  const metricsText = async () => {
    const res = await scrape(t.server.url, TOKEN);
    expect(res.status).toBe(200);
    return res.text();
  };

  it('moves HTTP, WebSocket, MCP, decryption, audit, job, queue and outbox series', async () => {
    const before = await metricsText();
    const s = await agentChat(t.server.url);

    // A message, and a mention the worker answers through the gateway.
    t.standin.script([toolUse('read_messages', { chatId: s.chat.id }, 'Reading.'), text('Hi!')]);
    const trigger = await s.alice.client.chats.send(s.chat.id, '@claude hello', {
      mentions: ['claude'],
    });
    await until(
      () => statusesOf(s.events, trigger.id).some((e) => e.status === 'done'),
      'the agent run',
      20_000,
    );

    // An MCP call served by this node: permission, grant unwrap, decryption, audit row.
    const { token } = await s.alice.client.createAgentToken({ agentName: 'claude' });
    const mcp = await mcpClient(t.server.url, token);
    const read = await mcp.callTool({ name: 'read_messages', arguments: { chatId: s.chat.id } });
    expect(read.isError).toBeFalsy();
    await mcp.close();

    // A push webhook whose deploy the worker runs (workflow_dispatch: it then awaits the run).
    const env = await connectExampleRepo(t.server.url, s.alice.client.session?.token ?? '', github);
    const push = await deliver(
      t.server.url,
      env.integration.id,
      'push',
      pushPayload('refs/heads/master'),
      { secret: env.secret },
    );
    expect(push.status).toBe(202);

    // Job outcomes arrive through the queues' event streams: poll the scrape until they show.
    let after = '';
    const counted = () =>
      sample(after, 'vutler_jobs_total', { queue: 'agent-runs', outcome: 'completed' }) >= 1 &&
      sample(after, 'vutler_jobs_total', { queue: 'deploys', outcome: 'completed' }) >= 1;
    for (const deadline = Date.now() + 20_000; !counted(); ) {
      if (Date.now() > deadline) throw new Error(`jobs never counted:\n${after}`);
      await new Promise((r) => setTimeout(r, 100));
      after = await metricsText();
    }
    const moved = (name: string, labels: Record<string, string> = {}) =>
      (sample(after, name, labels) || 0) - (sample(before, name, labels) || 0);

    expect(
      moved('vutler_http_requests_total', { route: '/api/chats/:id/messages', status: '201' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      moved('vutler_http_requests_total', {
        route: '/webhooks/github/:integrationId',
        status: '202',
      }),
    ).toBe(1);
    expect(moved('vutler_http_request_duration_seconds_count', { route: '/mcp' })).toBeGreaterThan(
      0,
    );
    expect(sample(after, 'vutler_ws_connections')).toBeGreaterThanOrEqual(1);
    expect(
      moved('vutler_ws_frames_total', { type: 'hello', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(moved('vutler_mcp_calls_total', { tool: 'read_messages', outcome: 'ok' })).toBe(1);
    expect(moved('vutler_mcp_call_duration_seconds_count', { tool: 'read_messages' })).toBe(1);
    expect(moved('vutler_gateway_decryptions_total')).toBeGreaterThanOrEqual(1);
    expect(moved('vutler_audit_rows_total', { outcome: 'allowed' })).toBeGreaterThanOrEqual(1);
    // Gauges read at scrape time: every queue and state present, the outbox drained.
    for (const queue of ['agent-runs', 'deploys'])
      for (const state of ['waiting', 'active', 'delayed', 'failed'])
        expect(
          sample(after, 'vutler_queue_jobs', { queue, state }),
          `${queue} ${state}`,
        ).toBeGreaterThanOrEqual(0);
    expect(sample(after, 'vutler_outbox_lag_seconds')).toBeGreaterThanOrEqual(0);
    // Labels are names and outcomes, never ids.
    expect(after).not.toContain(s.chat.id);
    expect(after).not.toContain(env.integration.id);
    s.live.close();
  });
});
