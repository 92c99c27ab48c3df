import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase, dumpRedis } from '../../helpers/canary.ts';
import { startHookServer, useDeployEnv } from '../../helpers/deploys.ts';
import {
  connectExampleRepo,
  deliver,
  EXAMPLE_REPO,
  examplesOf,
  newSha,
  pushPayload,
} from '../../helpers/github.ts';
import { until } from '../../helpers/wait.ts';
import { agentChat } from '../../helpers/workers.ts';

type Row = {
  id: string;
  state: string;
  sha: string;
  reason: string | null;
  github_deployment_id: string | null;
};

describe('auto-deploys (vutler worker + GitHub stand-in)', () => {
  const t = useDeployEnv();
  let hook: Awaited<ReturnType<typeof startHookServer>>;
  afterAll(() => hook.close());

  const row = async (id: string) =>
    (await t.db.pool.query<Row>('SELECT * FROM deployments WHERE id = $1', [id])).rows[0] as Row;
  const settled = async (id: string, ms = 20_000) => {
    let r: Row | undefined;
    const deadline = Date.now() + ms;
    for (;;) {
      r = await row(id);
      if (r && !['queued', 'in_progress'].includes(r.state)) return r;
      if (Date.now() > deadline) throw new Error(`deployment ${id} still ${r?.state}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  const push = async (env: Awaited<ReturnType<typeof connectExampleRepo>>, sha = newSha()) => {
    const res = await deliver(
      t.server.url,
      env.integration.id,
      'push',
      pushPayload('refs/heads/master', { after: sha }),
      {
        secret: env.secret,
      },
    );
    expect(res.status).toBe(202);
    const { rows: ds } = await t.db.pool.query<{ id: string }>(
      'SELECT id FROM deployments WHERE repo_id = $1 AND sha = $2',
      [env.repo.id, sha],
    );
    return { sha, id: ds[0]?.id as string };
  };
  const statusesOn = (r: Row) => t.standin.statusesOf(Number(r.github_deployment_id));

  let s: Awaited<ReturnType<typeof agentChat>>;
  let env: Awaited<ReturnType<typeof connectExampleRepo>>;
  beforeAll(async () => {
    hook = await startHookServer();
    s = await agentChat(t.server.url, { agentName: 'github' });
    env = await connectExampleRepo(t.server.url, s.alice.client.session?.token ?? '', t.standin, {
      environment: 'staging',
      strategy: { type: 'hook', url: hook.url, timeoutMs: 1000 },
      environmentUrl: 'https://staging.example.com',
      notifyChatId: s.chat.id,
    });
  });

  it('deploys a push: GitHub Deployment, statuses queued → in_progress → success, signed hook, a note from the github agent', async () => {
    hook.set(async () => 200);
    const before = hook.calls.length;
    const { sha, id } = await push(env);
    const done = await settled(id);
    expect(done.state).toBe('success');
    expect(statusesOn(done)).toEqual(['queued', 'in_progress', 'success']);
    const gh = t.standin.deployments.find((d) => d.id === Number(done.github_deployment_id));
    expect(gh).toMatchObject({
      sha,
      environment: 'staging',
      payload: { vutler_deployment_id: id },
    });
    expect(gh?.statuses.at(-1)?.environment_url).toBe('https://staging.example.com');

    // The hook got the ids, signed with the repository's hook key.
    const call = hook.calls[before];
    expect(call).toBeDefined();
    const sig = createHmac('sha256', env.repo.hookSigningKey ?? '')
      .update(call?.body ?? '')
      .digest('hex');
    expect(call?.headers['x-vutler-signature-256']).toBe(`sha256=${sig}`);
    expect(JSON.parse(call?.body ?? '{}')).toMatchObject({ deploymentId: id, sha });

    // Stored as the github agent's message; both members decrypt it and verify its signature
    // (the gateway's pinned key, for an agent header naming github on behalf of Alice).
    let noteId: string | undefined;
    for (let i = 0; i < 100 && !noteId; i++) {
      const { rows } = await t.db.pool.query<{ id: string }>(
        `SELECT id FROM messages WHERE chat_id = $1 AND sender_agent = 'github'
         AND created_at >= (SELECT created_at FROM deployments WHERE id = $2) - interval '1 second'`,
        [s.chat.id, id],
      );
      noteId = rows.at(-1)?.id;
      if (!noteId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(noteId).toBeDefined();
    for (const who of [s.alice, s.bob]) {
      await who.client.agents.gateway(); // pins the gateway key (first use), as the app does
      const note = (await who.client.chats.history(s.chat.id)).find((m) => m.id === noteId);
      expect(note, note?.reason).toMatchObject({ status: 'ok', senderId: s.alice.id });
      expect(note?.body?.text).toContain(`${sha.slice(0, 7)} to staging: success`);
    }
  });

  it('lists the history through the API and rolls back to the last successful commit', async () => {
    hook.set(async () => 200);
    const first = await push(env);
    await settled(first.id);
    const second = await push(env);
    expect((await settled(second.id)).state).toBe('success');
    const res = await fetch(`${t.server.url}/api/github/repos/${env.repo.id}/rollback`, {
      method: 'POST',
      headers: env.auth,
    });
    expect(res.status).toBe(202);
    const rb = (await res.json()) as { id: string; sha: string; trigger: string };
    expect(rb).toMatchObject({ sha: first.sha, trigger: 'rollback' });
    expect((await settled(rb.id)).state).toBe('success');
    const hist = await fetch(
      `${t.server.url}/api/github/repos/${env.repo.id}/deployments?limit=3`,
      { headers: env.auth },
    );
    const body = (await hist.json()) as { deployments: Array<{ id: string; state: string }> };
    expect(body.deployments.map((d) => d.id)).toEqual([rb.id, second.id, first.id]);
    expect(JSON.stringify(body)).not.toContain(env.token);
  });

  it('runs the newest of 20 rapid pushes; the queued older ones are superseded and never reach GitHub', async () => {
    // The first push's hook is held, so the next 19 queue up behind it.
    let release!: () => void;
    const held = new Promise<number>((r) => (release = () => r(200)));
    let first = true;
    hook.set(async () => {
      if (!first) return 200;
      first = false;
      return held;
    });
    await t.db.pool.query(
      `UPDATE connected_repos SET strategy = jsonb_set(strategy, '{timeoutMs}', '60000') WHERE id = $1`,
      [env.repo.id],
    );
    const before = hook.calls.length;
    const pushes = [await push(env)];
    await hook.received(before + 1);
    for (let i = 1; i < 20; i++) pushes.push(await push(env));
    release();
    const newest = pushes[19] as { id: string };
    expect((await settled(newest.id)).state).toBe('success');
    const states = await Promise.all(pushes.map((p) => settled(p.id)));
    expect(states[0]?.state).toBe('success');
    expect(states.slice(1, 19).map((r) => r.state)).toEqual(Array(18).fill('superseded'));
    for (const r of states.slice(1, 19)) expect(r.github_deployment_id).toBeNull();
    expect(hook.calls.length - before).toBe(2);
    await t.db.pool.query(
      `UPDATE connected_repos SET strategy = jsonb_set(strategy, '{timeoutMs}', '1000') WHERE id = $1`,
      [env.repo.id],
    );
  });

  it('runs exactly one of 19 pushes that arrive at once behind a running deploy; the rest are superseded', async () => {
    // Concurrent deliveries commit side by side, so each may miss the others' rows: the worker's
    // claim supersedes what they left queued, and only one of them reaches GitHub.
    let release!: () => void;
    const held = new Promise<number>((r) => (release = () => r(200)));
    let first = true;
    hook.set(async () => {
      if (!first) return 200;
      first = false;
      return held;
    });
    await t.db.pool.query(
      `UPDATE connected_repos SET strategy = jsonb_set(strategy, '{timeoutMs}', '60000') WHERE id = $1`,
      [env.repo.id],
    );
    const before = hook.calls.length;
    const running = await push(env);
    await hook.received(before + 1);
    const racing = await Promise.all(Array.from({ length: 19 }, () => push(env)));
    release();
    expect((await settled(running.id)).state).toBe('success');
    const states = await Promise.all(racing.map((p) => settled(p.id)));
    expect(states.filter((r) => r.state === 'success')).toHaveLength(1);
    expect(states.filter((r) => r.state === 'superseded')).toHaveLength(18);
    for (const r of states.filter((x) => x.state === 'superseded'))
      expect(r.github_deployment_id).toBeNull();
    expect(hook.calls.length - before).toBe(2);
    await t.db.pool.query(
      `UPDATE connected_repos SET strategy = jsonb_set(strategy, '{timeoutMs}', '1000') WHERE id = $1`,
      [env.repo.id],
    );
  });

  it('retries GitHub 5xx with backoff and still posts every status once', async () => {
    hook.set(async () => 200);
    t.standin.fail('POST', /\/deployments\/\d+\/statuses$/, 502, 2);
    const { id } = await push(env);
    const done = await settled(id);
    expect(done.state).toBe('success');
    expect(statusesOn(done)).toEqual(['queued', 'in_progress', 'success']);
  });

  it('ends the deploy error with a reason when GitHub keeps failing (never stuck in_progress)', async () => {
    t.standin.fail('POST', /\/deployments$/, 503, 10);
    const { id } = await push(env);
    const done = await settled(id);
    t.standin.clearFaults();
    expect(done.state).toBe('error');
    expect(done.reason).toMatch(/GitHub answered 503 after retries/);
  });

  it('ends the deploy error when the hook times out, failure when it answers 500', async () => {
    hook.set(async () => 'hang');
    const a = await push(env);
    const timedOut = await settled(a.id);
    expect(timedOut).toMatchObject({ state: 'error' });
    expect(timedOut.reason).toMatch(/did not answer within 1000 ms/);
    expect(statusesOn(timedOut)).toEqual(['queued', 'in_progress', 'error']);
    hook.set(async () => 500);
    const b = await push(env);
    const failed = await settled(b.id);
    expect(failed).toMatchObject({ state: 'failure', reason: 'the deploy hook answered 500' });
  });

  it('finishes the statuses exactly once after kill -9 of the worker mid-deploy', async () => {
    let hang = true;
    hook.set(async () => (hang ? 'hang' : 200));
    // Long hook timeout: the first worker is still inside the call when it dies.
    await t.db.pool.query(
      `UPDATE connected_repos SET strategy = jsonb_set(strategy, '{timeoutMs}', '60000') WHERE id = $1`,
      [env.repo.id],
    );
    const before = hook.calls.length;
    const { id } = await push(env);
    await hook.received(before + 1);
    const dying = t.workers[0];
    await dying?.kill9();
    hang = false;
    const second = await t.startWorker();
    const done = await settled(id, 30_000);
    expect(done.state).toBe('success');
    expect(statusesOn(done)).toEqual(['queued', 'in_progress', 'success']);
    // The hook was called again with the same deployment id, so it can dedupe.
    const ids = hook.calls.slice(before).map((c) => c.headers['x-vutler-deployment']);
    expect(new Set(ids)).toEqual(new Set([id]));
    expect(second.lines.join('\n')).not.toContain(env.token);
    await t.db.pool.query(
      `UPDATE connected_repos SET strategy = jsonb_set(strategy, '{timeoutMs}', '1000') WHERE id = $1`,
      [env.repo.id],
    );
  });

  it('follows a workflow_dispatch deploy to its workflow_run completion', async () => {
    const wf = await connectExampleRepo(
      t.server.url,
      s.alice.client.session?.token ?? '',
      t.standin,
      {
        environment: 'production',
        strategy: { type: 'workflow_dispatch', workflow: 'deploy.yml', inputs: { target: 'prod' } },
      },
    );
    const { sha, id } = await push(wf);
    await until(
      () =>
        t.standin.calls.some((c) => c.path.endsWith('/actions/workflows/deploy.yml/dispatches')),
      'the workflow dispatch',
      20_000,
    );
    const dispatch = t.standin.calls.find((c) => c.path.endsWith('/dispatches'));
    expect(dispatch?.body).toEqual({ ref: 'master', inputs: { target: 'prod' } });
    expect((await row(id)).state).toBe('in_progress');
    const run = examplesOf('workflow_run').find((e) => e.action === 'completed') as Record<
      string,
      unknown
    >;
    const payload = {
      ...run,
      repository: { ...(run.repository as object), id: EXAMPLE_REPO.id },
      workflow_run: {
        ...(run.workflow_run as object),
        id: 99,
        head_sha: sha,
        conclusion: 'success',
      },
    };
    const res = await deliver(t.server.url, wf.integration.id, 'workflow_run', payload, {
      secret: wf.secret,
    });
    expect(await res.json()).toMatchObject({ outcome: 'workflow-run', deployments: 1 });
    const done = await settled(id);
    expect(done.state).toBe('success');
    expect(statusesOn(done)).toEqual(['queued', 'in_progress', 'success']);
    expect(
      (await t.db.pool.query('SELECT log_url FROM deployments WHERE id = $1', [id])).rows[0]
        .log_url,
    ).toContain('/actions/runs/99');
  });

  it('leaves no GitHub token or webhook secret in clear in PostgreSQL, Redis or the worker logs', async () => {
    const db = await dumpDatabase(t.db.pool);
    const redis = await dumpRedis(t.redis);
    const logs = t.workers.flatMap((w) => w.lines).join('\n');
    for (const needle of [env.token, env.secret, env.repo.hookSigningKey ?? 'x'.repeat(64)]) {
      expect(db.includes(needle)).toBe(false);
      expect(redis.text.includes(needle)).toBe(false);
      expect(logs.includes(needle)).toBe(false);
    }
  });
});
