import { z } from 'zod';
import { defineTool } from './tool.ts';
import { memoryToolVisible } from './visibility.ts';

export const recallTool = defineTool({
  name: 'recall',
  title: 'Recall',
  description:
    'Searches this agent’s memories for the owner (decrypted for this call only) and returns the best matches, ranked by BM25 over words and tags; an empty query returns the newest.',
  inputSchema: z
    .object({
      query: z.string().max(1000).default(''),
      limit: z.number().int().min(1).max(50).default(10),
    })
    .strict(),
  outputSchema: z.object({
    memories: z.array(
      z.object({
        id: z.string(),
        text: z.string(),
        tags: z.array(z.string()),
        writtenBy: z.enum(['agent', 'user']),
        createdAt: z.string(),
        updatedAt: z.string(),
        score: z.number(),
      }),
    ),
    considered: z.number().int(),
    rejected: z.number().int(),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: memoryToolVisible(),
  run: async (input, ctx) => {
    const out = await ctx.memory.recall(ctx.caller, ctx.meta, await ctx.permissions(), input);
    const text = out.memories.length
      ? out.memories
          .map(
            (m) =>
              `[${m.id}] (${m.writtenBy}${m.tags.length ? `; ${m.tags.join(', ')}` : ''}) ${m.text}`,
          )
          .join('\n')
      : 'No memories match.';
    return { structured: out, text };
  },
});
