import { z } from 'zod';
import { defineTool } from './tool.ts';
import { chatToolVisible } from './visibility.ts';

export const listChatsTool = defineTool({
  name: 'list_chats',
  title: 'List chats',
  description:
    'The chats this agent may see (metadata only: ids, member counts, epochs) and whether it can read their current messages.',
  inputSchema: z.object({}).strict(),
  outputSchema: z.object({
    chats: z.array(
      z.object({
        id: z.string(),
        kind: z.enum(['direct', 'group']),
        memberCount: z.number().int(),
        currentEpoch: z.number().int(),
        lastSeq: z.number().int(),
        createdAt: z.string(),
        readable: z.boolean(),
      }),
    ),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: chatToolVisible('metadata'),
  run: async (_input, ctx) => {
    const chats = await ctx.chats.listChats(ctx.caller, ctx.meta);
    const text = chats.length
      ? chats
          .map(
            (c) =>
              `${c.id} (${c.kind}, ${c.memberCount} members, ${c.lastSeq} messages${c.readable ? ', readable' : ''})`,
          )
          .join('\n')
      : 'No chats are shared with this agent.';
    return { structured: { chats }, text };
  },
});
