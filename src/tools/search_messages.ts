import { z } from 'zod';
import { chatId, messageOut, renderMessage } from './schemas.ts';
import { defineTool } from './tool.ts';
import { chatToolVisible } from './visibility.ts';

export const searchMessagesTool = defineTool({
  name: 'search_messages',
  title: 'Search messages',
  description:
    'Case-insensitive text search over the most recent messages (a bounded window per chat) of one chat or of every chat granted to this agent. Decrypts in memory for this call only.',
  inputSchema: z
    .object({
      query: z.string().trim().min(1).max(200),
      chatId: chatId.optional(),
      window: z
        .number()
        .int()
        .min(1)
        .max(5000)
        .optional()
        .describe('Recent messages per chat to search.'),
      limit: z.number().int().min(1).max(100).default(20),
    })
    .strict(),
  outputSchema: z.object({
    matches: z.array(messageOut.extend({ chatId: z.string() })),
    searched: z.number().int(),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: chatToolVisible('decrypt_ephemeral'),
  run: async (input, ctx) => {
    const out = await ctx.chats.searchMessages(ctx.caller, ctx.meta, input);
    const text = out.matches.length
      ? out.matches.map((m) => `${m.chatId} ${renderMessage(m)}`).join('\n')
      : `No match among ${out.searched} messages.`;
    return { structured: out, text };
  },
});
