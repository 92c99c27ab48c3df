import { z } from 'zod';
import { fileId, fileOut, renderFile } from './schemas.ts';
import { defineTool } from './tool.ts';
import { fileToolVisible } from './visibility.ts';

export const fileInfoTool = defineTool({
  name: 'file_info',
  title: 'File info',
  description:
    'Decrypted metadata (name, type, size, times) of one granted file; never its content.',
  inputSchema: z.object({ fileId }).strict(),
  outputSchema: fileOut,
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: fileToolVisible('metadata'),
  run: async (input, ctx) => {
    const out = await ctx.files.fileInfo(ctx.caller, ctx.meta, input);
    return { structured: out, text: renderFile(out) };
  },
});
