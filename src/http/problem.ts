import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { currentRequestId } from '../log.ts';

export const PROBLEM_TYPE_BASE = 'urn:vutler:problem:';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extra: string]: unknown;
}

export function problemBody(err: AppError, instance?: string): ProblemBody {
  return {
    ...err.extra,
    type: PROBLEM_TYPE_BASE + err.type,
    title: err.title,
    status: err.status,
    detail: err.message,
    instance,
    requestId: currentRequestId(),
  };
}

export function problemResponse(err: AppError, instance?: string): Response {
  return new Response(JSON.stringify(problemBody(err, instance)), {
    status: err.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...err.headers },
  });
}

/**
 * The one error mapper. Known errors keep their status; anything else is a 500 whose body says
 * nothing beyond the request id (the log has the detail, never the client).
 */
export function onError(logger: Logger) {
  return (err: Error, c: Context): Response => {
    const instance = c.req.path;
    if (err instanceof AppError) {
      if (err.status >= 500) logger.error({ err: serializeError(err) }, 'request failed');
      return problemResponse(err, instance);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      return problemResponse(
        new AppError(status, status === 413 ? 'payload-too-large' : 'http', err.message || 'Error'),
        instance,
      );
    }
    logger.error({ err: serializeError(err) }, 'unhandled error');
    return problemResponse(
      new AppError(500, 'internal', 'Internal server error', 'Something went wrong on our side.'),
      instance,
    );
  };
}

/** Message and stack only: error objects from drivers may carry query parameters. */
export function serializeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    return {
      type: err.name,
      message: err.message,
      stack: err.stack,
      code: (err as { code?: unknown }).code,
    };
  }
  return { message: String(err) };
}
