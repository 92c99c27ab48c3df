import { z } from 'zod';
import { githubOf, githubToolVisible } from './github.ts';
import { defineTool } from './tool.ts';

export const deploymentOut = z.object({
  id: z.string(),
  sha: z.string(),
  ref: z.string(),
  environment: z.string(),
  trigger: z.enum(['push', 'manual', 'rollback']),
  state: z.enum(['queued', 'in_progress', 'success', 'failure', 'error', 'superseded']),
  reason: z.string().nullable(),
  logUrl: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

/** A deployment as the tools return it: these fields only, whatever else the service holds. */
export function deploymentOf(d: z.infer<typeof deploymentOut>): z.infer<typeof deploymentOut> {
  return {
    id: d.id,
    sha: d.sha,
    ref: d.ref,
    environment: d.environment,
    trigger: d.trigger,
    state: d.state,
    reason: d.reason,
    logUrl: d.logUrl,
    createdAt: d.createdAt,
    finishedAt: d.finishedAt,
  };
}

export const listDeploymentsTool = defineTool({
  name: 'list_deployments',
  title: 'List deployments',
  description: 'Deploy history of a connected repository, newest first.',
  inputSchema: z
    .object({
      repoId: z.uuid().describe('A repository id from list_repos.'),
      limit: z.number().int().min(1).max(100).default(20),
    })
    .strict(),
  outputSchema: z.object({ deployments: z.array(deploymentOut) }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: githubToolVisible(),
  run: async (input, ctx) => {
    const list = await githubOf(ctx).listDeployments(
      ctx.caller,
      ctx.meta,
      await ctx.permissions(),
      input.repoId,
      input.limit,
    );
    const deployments = list.map(deploymentOf);
    const text = deployments.length
      ? deployments
          .map(
            (d) =>
              `${d.createdAt} ${d.sha.slice(0, 7)} ${d.state}${d.reason ? ` (${d.reason})` : ''}`,
          )
          .join('\n')
      : 'No deployments yet.';
    return { structured: { deployments }, text };
  },
});
