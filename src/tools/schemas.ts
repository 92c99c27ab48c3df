import { z } from 'zod';

/** Output shapes shared by the chat tools. */
export const messageOut = z.object({
  id: z.string(),
  seq: z.number().int(),
  senderId: z.string().nullable(),
  senderAgent: z.string().nullable(),
  createdAt: z.string(),
  status: z.enum(['ok', 'withheld', 'deleted', 'no-key', 'rejected']),
  text: z.string().optional(),
  replyTo: z.string().nullable().optional(),
});

export const chatId = z.uuid().describe('A chat id from list_chats.');

export function renderMessage(m: z.infer<typeof messageOut>): string {
  const who = m.senderAgent ? `agent ${m.senderAgent}` : `user ${m.senderId ?? 'unknown'}`;
  if (m.status !== 'ok') return `#${m.seq} [${m.status}] (${who})`;
  return `#${m.seq} ${m.createdAt} ${who}: ${m.text ?? ''}`;
}
