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

export const fileId = z.uuid().describe('A file id from list_files.');

/** Decrypted metadata of one granted file. */
export const fileOut = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string().describe('MIME type.'),
  size: z.number().int().describe('Plaintext bytes.'),
  createdAt: z.string(),
  modifiedAt: z.string().nullable(),
});

export function renderFile(f: z.infer<typeof fileOut>): string {
  return `${f.id} ${f.name} (${f.type}, ${f.size} bytes)`;
}
