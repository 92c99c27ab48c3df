import { z } from 'zod';
import { githubOf, githubToolVisible } from './github.ts';
import { defineTool } from './tool.ts';

export const listReposTool = defineTool({
  name: 'list_repos',
  title: 'List connected repositories',
  description:
    'The GitHub repositories the owner connected to Vutler that this agent may see: deploy branch, environment, strategy and whether auto-deploy is on.',
  inputSchema: z.object({}).strict(),
  outputSchema: z.object({
    repos: z.array(
      z.object({
        id: z.string(),
        fullName: z.string(),
        branch: z.string(),
        environment: z.string(),
        strategy: z.string(),
        autoDeployEnabled: z.boolean(),
        environmentUrl: z.string().nullable(),
      }),
    ),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: githubToolVisible(),
  run: async (_input, ctx) => {
    const repos = (
      await githubOf(ctx).listRepos(ctx.caller, ctx.meta, await ctx.permissions())
    ).map((r) => ({
      id: r.id,
      fullName: r.fullName,
      branch: r.branch,
      environment: r.environment,
      strategy: r.strategy.type,
      autoDeployEnabled: r.autoDeployEnabled,
      environmentUrl: r.environmentUrl,
    }));
    const text = repos.length
      ? repos
          .map(
            (r) =>
              `${r.id} ${r.fullName} (${r.branch} → ${r.environment}, ${r.strategy}${r.autoDeployEnabled ? ', auto' : ''})`,
          )
          .join('\n')
      : 'No repositories are shared with this agent.';
    return { structured: { repos }, text };
  },
});
