import { z } from 'zod';
import { defineTool } from './tool.ts';

export const whoamiTool = defineTool({
  name: 'whoami',
  title: 'Who am I',
  description:
    'The agent name this token acts as, the person it acts for, what they allow it to do, and the gateway key fingerprint.',
  inputSchema: z.object({}).strict(),
  outputSchema: z.object({
    agentName: z.string(),
    ownerId: z.string(),
    tokenExpiresAt: z.string(),
    gatewayFingerprint: z.string(),
    permissions: z.array(
      z.object({
        resourceType: z.string(),
        accessLevel: z.enum(['denied', 'metadata', 'decrypt_ephemeral']),
        conditions: z.record(z.string(), z.unknown()),
      }),
    ),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: () => true,
  run: async (_input, ctx) => {
    const permissions = await ctx.permissions();
    const structured = {
      agentName: ctx.caller.agentName,
      ownerId: ctx.caller.userId,
      tokenExpiresAt: ctx.caller.tokenExpiresAt.toISOString(),
      gatewayFingerprint: ctx.gatewayFingerprint,
      permissions: permissions.map((p) => ({
        resourceType: p.resourceType,
        accessLevel: p.accessLevel,
        conditions: p.conditions as Record<string, unknown>,
      })),
    };
    const perms =
      structured.permissions.map((p) => `${p.resourceType}: ${p.accessLevel}`).join(', ') || 'none';
    return {
      structured,
      text: `Agent "${structured.agentName}" acting for user ${structured.ownerId}. Permissions: ${perms}.`,
    };
  },
});
