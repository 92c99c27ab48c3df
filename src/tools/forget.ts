import { z } from 'zod';
import { defineTool } from './tool.ts';
import { memoryToolVisible } from './visibility.ts';

export const forgetTool = defineTool({
  name: 'forget',
  title: 'Forget',
  description:
    'Deletes one of this agent’s memories for good (its ciphertext is removed). Needs the owner to allow writing.',
  inputSchema: z.object({ id: z.uuid().describe('The id recall returned.') }).strict(),
  outputSchema: z.object({ id: z.string(), forgotten: z.literal(true) }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: memoryToolVisible(true),
  run: async (input, ctx) => {
    const out = await ctx.memory.forget(
      ctx.caller,
      ctx.meta,
      await ctx.permissions(),
      input.id.toLowerCase(),
    );
    return { structured: out, text: `Forgot ${out.id}.` };
  },
});
