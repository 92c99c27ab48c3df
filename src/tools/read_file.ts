import { z } from 'zod';
import { fileId, fileOut } from './schemas.ts';
import { defineTool } from './tool.ts';
import { fileToolVisible } from './visibility.ts';

export const readFileTool = defineTool({
  name: 'read_file',
  title: 'Read file',
  description:
    'Decrypts one granted file for this call only. Text comes back as text; other types as a base64 embedded resource. Files past the server bound are refused (too-large).',
  inputSchema: z.object({ fileId }).strict(),
  outputSchema: z.object({
    file: fileOut,
    encoding: z.enum(['text', 'base64']),
    text: z.string().optional().describe('The content, when encoding is text.'),
    resourceUri: z
      .string()
      .optional()
      .describe('When encoding is base64: the embedded resource carrying the bytes.'),
  }),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  visible: fileToolVisible('decrypt_ephemeral'),
  run: async (input, ctx) => {
    const { file, content } = await ctx.files.readFile(ctx.caller, ctx.meta, input);
    if (content.kind === 'text') {
      return {
        structured: { file, encoding: 'text' as const, text: content.text },
        text: content.text,
      };
    }
    const uri = `vutler://files/${file.id}`;
    return {
      structured: { file, encoding: 'base64' as const, resourceUri: uri },
      text: `${file.name} (${file.type}, ${file.size} bytes): binary content in the embedded resource ${uri}.`,
      resource: { uri, mimeType: content.mimeType, blob: content.base64 },
    };
  },
});
