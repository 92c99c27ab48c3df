import { z } from 'zod';
import { fileOut, renderFile } from './schemas.ts';
import { defineTool } from './tool.ts';
import { fileToolVisible } from './visibility.ts';

export const listFilesTool = defineTool({
  name: 'list_files',
  title: 'List files',
  description:
    'The VDrive files the owner granted this agent: decrypted name, type and size only. Page with `cursor` (nextCursor of the previous answer).',
  inputSchema: z
    .object({
      limit: z.number().int().min(1).max(100).default(50),
      cursor: z.uuid().optional().describe('nextCursor from a previous answer.'),
    })
    .strict(),
  outputSchema: z.object({ files: z.array(fileOut), nextCursor: z.string().nullable() }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: fileToolVisible('metadata'),
  run: async (input, ctx) => {
    const out = await ctx.files.listFiles(ctx.caller, ctx.meta, input);
    const text = out.files.length ? out.files.map(renderFile).join('\n') : 'No files.';
    return { structured: out, text };
  },
});
