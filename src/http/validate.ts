import type { Context } from 'hono';
import type { z } from 'zod';
import {
  MalformedJsonError,
  UnsupportedMediaTypeError,
  ValidationError,
  type ValidationIssue,
} from '../errors.ts';

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
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(issuesOf(result.error), where);
  return result.data;
}

/** Reads and validates a JSON body: 415 for another media type, 400 for bad JSON, 422 for bad shape. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(type))
    throw new UnsupportedMediaTypeError('application/json');
  let value: unknown;
  try {
    value = JSON.parse(await c.req.text());
  } catch (err) {
    if (err instanceof SyntaxError) throw new MalformedJsonError();
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
