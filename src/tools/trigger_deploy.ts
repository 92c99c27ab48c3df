import { z } from 'zod';
import { githubOf, githubToolVisible } from './github.ts';
import { deploymentOf, deploymentOut } from './list_deployments.ts';
import { defineTool } from './tool.ts';

export const triggerDeployTool = defineTool({
  name: 'trigger_deploy',
  title: 'Trigger a deploy',
  description:
    'Queues a deploy of a commit of a connected repository, or a rollback to the last successful commit. Newer queued deploys supersede older ones. Needs the owner to allow writing.',
  inputSchema: z
    .object({
      repoId: z.uuid().describe('A repository id from list_repos.'),
      sha: z
        .string()
        .regex(/^[0-9a-f]{40}$/, 'a full 40-character commit sha')
        .optional()
        .describe('The commit to deploy.'),
      rollback: z.boolean().optional().describe('Redeploy the last successful commit instead.'),
    })
    .strict()
    .refine((v) => Boolean(v.sha) !== Boolean(v.rollback), 'give either sha or rollback: true'),
  outputSchema: z.object({ deployment: deploymentOut }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: true,
  },
  visible: githubToolVisible(true),
  run: async (input, ctx) => {
    const d = await githubOf(ctx).triggerDeploy(
      ctx.caller,
      ctx.meta,
      await ctx.permissions(),
      input.repoId,
      input,
    );
    const deployment = deploymentOf(d);
    return {
      structured: { deployment },
      text: `Queued ${d.trigger} deploy ${d.id} of ${d.sha.slice(0, 7)} to ${d.environment}.`,
    };
  },
});
