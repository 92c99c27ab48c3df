import { z } from 'zod';
import { base64Decode } from '../crypto/bytes.ts';

/** Shared zod pieces for request bodies. */

export const email = z
  .string()
  .trim()
  .max(254, { error: 'must be at most 254 characters' })
  .pipe(z.email({ error: 'must be an email address' }))
  .transform((v) => v.toLowerCase());

export const uuid = z.uuid({ error: 'must be a UUID' });

/**
 * Standard base64 that decodes to bytes; `exact` or `max` bound the decoded length so an
 * oversized field is rejected before anything else looks at it.
 */
export function base64Bytes(opts: { exact?: number; max?: number; min?: number }) {
  const maxChars = Math.ceil(((opts.exact ?? opts.max ?? 1 << 20) * 4) / 3) + 4;
  return z
    .string()
    .max(maxChars, { error: `must decode to at most ${opts.exact ?? opts.max} bytes` })
    .transform((v, ctx) => {
      try {
        const bytes = base64Decode(v, opts.exact);
        if (opts.max !== undefined && bytes.length > opts.max) {
          ctx.addIssue({ code: 'custom', message: `must decode to at most ${opts.max} bytes` });
          return z.NEVER;
        }
        if (opts.min !== undefined && bytes.length < opts.min) {
          ctx.addIssue({ code: 'custom', message: `must decode to at least ${opts.min} bytes` });
          return z.NEVER;
        }
        return bytes;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });
}

/** Agent names appear in mentions (`@claude`), tokens and permission rows. */
export const agentName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, {
  error:
    'must be 1-100 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
});
