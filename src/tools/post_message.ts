import { z } from 'zod';
import { chatId } from './schemas.ts';
import { defineTool } from './tool.ts';
import { chatToolVisible } from './visibility.ts';

const uuidv7 = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i, 'a UUIDv7');

export const postMessageTool = defineTool({
  name: 'post_message',
  title: 'Post a message',
  description:
    'Posts a message to a granted chat as this agent: encrypted under the chat key and signed by the gateway, so members see it as this agent’s. Needs the owner to allow writing.',
  inputSchema: z
    .object({
      chatId,
      text: z.string().min(1).max(16_000),
      // Message ids are UUIDv7 (the sealed body refuses anything else): checked here, not later.
      replyTo: uuidv7.optional().describe('Id of the message this answers.'),
      messageId: uuidv7
        .optional()
        .describe(
          'Idempotency: a UUIDv7 the caller chose. Posting again with the same id returns the message already posted instead of a second one.',
        ),
    })
    .strict(),
  outputSchema: z.object({
    chatId: z.string(),
    messageId: z.string(),
    seq: z.number().int(),
    epoch: z.number().int(),
  }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  visible: chatToolVisible('decrypt_ephemeral', true),
  run: async (input, ctx) => {
    const out = await ctx.chats.postMessage(ctx.caller, ctx.meta, input);
    return {
      structured: out,
      text: `Posted message ${out.messageId} (#${out.seq}) to chat ${out.chatId}.`,
    };
  },
});
