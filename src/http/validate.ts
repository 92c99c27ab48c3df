import contentType from 'content-type';
import type { Context } from 'hono';
import type { z } from 'zod';
import {
  MalformedJsonError,
  UnsupportedMediaTypeError,
  ValidationError,
  type ValidationIssue,
} from '../errors.ts';
import { readIncoming, untouchedIncoming } from './node-request.ts';
import { unstorableTextIssues } from './schemas.ts';

function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.slice(0, 20).map((i) => ({
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
}

export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.infer<S> {
  const unstorable = unstorableTextIssues(value);
  if (unstorable.length > 0) throw new ValidationError(unstorable, where);
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(issuesOf(result.error), where);
  return result.data;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** `utf8` is not a registered charset name, but common clients send it and mean UTF-8. */
const UTF8_NAMES = new Set(['utf-8', 'utf8']);

/**
 * Whether a Content-Type header names one of `accepted` media types, in UTF-8. Parsed with
 * `content-type` (RFC 9110 grammar), so `application/json-seq` or `application/jsonx` are not
 * taken for JSON; the only parameter that matters is `charset`, which must say UTF-8 if present.
 */
function isAcceptedJson(header: string | undefined, accepted: readonly string[]): boolean {
  if (!header) return false;
  let parsed: contentType.ParsedMediaType;
  try {
    parsed = contentType.parse(header);
  } catch {
    return false;
  }
  const charset = parsed.parameters.charset;
  return (
    accepted.includes(parsed.type) &&
    (charset === undefined || UTF8_NAMES.has(charset.toLowerCase()))
  );
}

/**
 * Reads and validates a JSON body: 415 for another media type or charset, 400 for bad JSON, 422
 * for bad shape. Routes that mean a `+json` type (e.g. `application/merge-patch+json`) name it in
 * `accept`; nothing else is read as JSON.
 */
export async function jsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  opts: { accept?: readonly string[] } = {},
): Promise<z.infer<S>> {
  const accept = opts.accept ?? ['application/json'];
  if (!isAcceptedJson(c.req.header('content-type'), accept))
    throw new UnsupportedMediaTypeError(`${accept.join(' or ')} (UTF-8)`);
  let value: unknown;
  try {
    // Fatal decoding: bytes that are not UTF-8 are refused, not silently replaced by U+FFFD.
    const incoming = untouchedIncoming(c);
    const bytes = incoming ? await readIncoming(incoming) : await c.req.arrayBuffer();
    value = JSON.parse(UTF8.decode(bytes));
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof TypeError) throw new MalformedJsonError();
    throw err;
  }
  return parseWith(schema, value, 'body');
}

export function queryParams<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseWith(schema, c.req.query(), 'query');
}

export function pathParams<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseWith(schema, c.req.param(), 'path');
}
