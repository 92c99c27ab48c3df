import { describe, expect, it } from 'vitest';
import { errorCode, gatewayKeyLine, mcpClient } from '../../helpers/gateway.ts';
import { connectExampleRepo, newSha, useGithubServer } from '../../helpers/github.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();

describe('GitHub MCP tools behind the gateway', () => {
  const t = useGithubServer({ VUTLER_GATEWAY_KEY: key });

  async function setup(conditions: Record<string, unknown>) {
    const alice = await person(t.server.url, 'alice');
    const env = await connectExampleRepo(
      t.server.url,
      alice.client.session?.token ?? '',
      t.standin,
    );
    const { token } = await alice.client.createAgentToken({ agentName: 'ops' });
    await alice.client.agents.setPermission({
      agentName: 'ops',
      resourceType: 'github',
      accessLevel: 'metadata',
      conditions,
    });
    return { alice, env, mcp: await mcpClient(t.server.url, token) };
  }

  const audit = async (userId: string) =>
    (
      await t.db.pool.query<{
        tool_name: string;
        outcome: string;
        resource_id: string;
        reason: string | null;
      }>(
        `SELECT tool_name, outcome, resource_id, reason FROM decryption_audit_log
         WHERE user_id = $1 AND resource_type = 'github' ORDER BY decrypted_at`,
        [userId],
      )
    ).rows;

  it('lists repositories and deployments, and queues a deploy when writing is allowed (audited)', async () => {
    const { alice, env, mcp } = await setup({ allow_write: true });
    const tools = (await mcp.listTools()).tools;
    const names = tools.map((x) => x.name);
    expect(names).toEqual(
      expect.arrayContaining(['list_repos', 'list_deployments', 'trigger_deploy']),
    );
    expect(tools.find((x) => x.name === 'trigger_deploy')?.annotations?.destructiveHint).toBe(true);

    const repos = await mcp.callTool({ name: 'list_repos', arguments: {} });
    expect((repos.structuredContent as { repos: { id: string }[] }).repos).toEqual([
      expect.objectContaining({
        id: env.repo.id,
        fullName: 'Codertocat/Hello-World',
        branch: 'master',
      }),
    ]);
    const sha = newSha();
    const trig = await mcp.callTool({
      name: 'trigger_deploy',
      arguments: { repoId: env.repo.id, sha },
    });
    expect(trig.isError).toBeFalsy();
    expect(
      (trig.structuredContent as { deployment: { sha: string; state: string } }).deployment,
    ).toMatchObject({
      sha,
      state: 'queued',
    });
    const list = await mcp.callTool({
      name: 'list_deployments',
      arguments: { repoId: env.repo.id },
    });
    expect(
      (list.structuredContent as { deployments: { sha: string; trigger: string }[] }).deployments,
    ).toEqual([expect.objectContaining({ sha, trigger: 'manual' })]);
    const rows = await audit(alice.id);
    expect(rows.map((r) => [r.tool_name, r.outcome])).toEqual([
      ['list_repos', 'allowed'],
      ['trigger_deploy', 'allowed'],
      ['list_deployments', 'allowed'],
    ]);
    // No rollback target yet: a recoverable refusal, not an internal error.
    const rb = await mcp.callTool({
      name: 'trigger_deploy',
      arguments: { repoId: env.repo.id, rollback: true },
    });
    expect(errorCode(rb)).toBe('no-rollback-target');
  });

  it('hides and refuses trigger_deploy without allow_write, and audits the refusal', async () => {
    const { alice, env, mcp } = await setup({});
    const names = (await mcp.listTools()).tools.map((x) => x.name);
    expect(names).toContain('list_repos');
    expect(names).not.toContain('trigger_deploy');
    const res = await mcp.callTool({
      name: 'trigger_deploy',
      arguments: { repoId: env.repo.id, sha: newSha() },
    });
    expect(errorCode(res)).toBe('write-not-allowed');
    expect(await audit(alice.id)).toEqual([
      expect.objectContaining({
        tool_name: 'trigger_deploy',
        outcome: 'denied',
        resource_id: env.repo.id,
      }),
    ]);
    const { rows } = await t.db.pool.query('SELECT 1 FROM deployments WHERE repo_id = $1', [
      env.repo.id,
    ]);
    expect(rows).toHaveLength(0);
  });

  it('answers another owner’s repository and ids outside resource_ids as not found', async () => {
    const { env: bobs } = await setup({ allow_write: true });
    const { env, mcp } = await setup({
      allow_write: true,
      resource_ids: ['00000000-0000-4000-8000-000000000000'],
    });
    for (const repoId of [bobs.repo.id, env.repo.id]) {
      const res = await mcp.callTool({ name: 'list_deployments', arguments: { repoId } });
      expect(errorCode(res)).toBe('not-found');
    }
    const repos = await mcp.callTool({ name: 'list_repos', arguments: {} });
    expect((repos.structuredContent as { repos: unknown[] }).repos).toEqual([]);
  });

  it('lists no GitHub tool to an agent without a github permission', async () => {
    const alice = await person(t.server.url, 'carol');
    const { token } = await alice.client.createAgentToken({ agentName: 'ops' });
    const mcp = await mcpClient(t.server.url, token);
    const names = (await mcp.listTools()).tools.map((x) => x.name);
    expect(
      names.filter((n) => ['list_repos', 'list_deployments', 'trigger_deploy'].includes(n)),
    ).toEqual([]);
    const res = await mcp.callTool({ name: 'list_repos', arguments: {} });
    expect(errorCode(res)).toBe('no-permission');
  });
});
