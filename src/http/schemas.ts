import { z } from 'zod';
import { base64Decode } from '../crypto/bytes.ts';

/** Shared zod pieces for request bodies. */

/**
 * Whether a string can be stored as PostgreSQL `text`: no NUL (Postgres refuses it, which used to
 * surface as a 500) and no lone surrogate (it would be silently stored as U+FFFD, so what is read
 * back differs from what was sent).
 */
export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const STORABLE_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/**
 * Every string in a parsed request (values and object keys, at any depth) that is not storable
 * text, as validation issues. `parseWith` runs it on every body and query before the route's own
 * schema, so no text field of any route can reach the database with one.
 */
export function unstorableTextIssues(
  value: unknown,
  path: string[] = [],
  out: { path: string; message: string }[] = [],
): { path: string; message: string }[] {
  if (out.length >= 20) return out;
  if (typeof value === 'string') {
    if (!isStorableText(value))
      out.push({ path: path.join('.') || '(root)', message: STORABLE_MESSAGE });
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) unstorableTextIssues(v, [...path, String(i)], out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const at = [...path, isStorableText(k) ? k : JSON.stringify(k)];
      if (!isStorableText(k)) out.push({ path: at.join('.'), message: `key ${STORABLE_MESSAGE}` });
      unstorableTextIssues(v, at, out);
    }
  }
  return out;
}

/** A free-text field (names, labels): trimmed, bounded, storable (see `isStorableText`). */
export function text(opts: { min?: number; max: number }) {
  return z
    .string()
    .trim()
    .min(opts.min ?? 0)
    .max(opts.max)
    .refine(isStorableText, { error: STORABLE_MESSAGE });
}

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
