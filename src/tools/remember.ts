import { z } from 'zod';
import { defineTool } from './tool.ts';
import { memoryToolVisible } from './visibility.ts';

export const memoryTag = z.string().regex(/^[\p{L}\p{N}_.:-]{1,64}$/u, 'a short word');

export const rememberTool = defineTool({
  name: 'remember',
  title: 'Remember',
  description:
    'Stores one memory for this agent and its owner, encrypted under the owner’s memory key and signed by the gateway. The owner can read, correct and delete it. Needs the owner to allow writing.',
  inputSchema: z
    .object({
      text: z.string().trim().min(1).max(4000),
      tags: z.array(memoryTag).max(16).default([]),
    })
    .strict(),
  outputSchema: z.object({ id: z.string(), createdAt: z.string() }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  visible: memoryToolVisible(true),
  run: async (input, ctx) => {
    const out = await ctx.memory.remember(ctx.caller, ctx.meta, await ctx.permissions(), input);
    return { structured: out, text: `Remembered (id ${out.id}).` };
  },
});
