import { z } from 'zod';
import { chatId, messageOut, renderMessage } from './schemas.ts';
import { defineTool } from './tool.ts';
import { chatToolVisible } from './visibility.ts';

const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const readMessagesTool = defineTool({
  name: 'read_messages',
  title: 'Read messages',
  description:
    'Decrypts messages of one granted chat for this call only. Without a cursor: the latest `limit`. `before`/`after` are seq cursors from a previous answer (nextBefore / nextAfter).',
  inputSchema: z
    .object({
      chatId,
      before: seq.optional().describe('Only messages with a smaller seq (older).'),
      after: seq.optional().describe('Only messages with a larger seq (newer).'),
      limit: z.number().int().min(1).max(100).default(50),
    })
    .strict()
    .refine(
      (v) => v.before === undefined || v.after === undefined,
      'Give before or after, not both.',
    ),
  outputSchema: z.object({
    chatId: z.string(),
    messages: z.array(messageOut),
    nextBefore: z.number().int().nullable(),
    nextAfter: z.number().int().nullable(),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: chatToolVisible('decrypt_ephemeral'),
  run: async (input, ctx) => {
    const out = await ctx.chats.readMessages(ctx.caller, ctx.meta, input);
    const text = out.messages.length ? out.messages.map(renderMessage).join('\n') : 'No messages.';
    return { structured: out, text };
  },
});
