import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { CryptoError, type CryptoErrorCode } from '../crypto/errors.ts';
import { AppError, ServiceUnavailableError } from '../errors.ts';
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
 * How a `CryptoError` that escapes a service reads over HTTP. Input that is malformed or out of
 * range (sizes, encodings, parameters, versions) is a 422 like any failed validation; input that
 * is well-formed but does not verify (signatures, keys, ciphertexts) is a 400. The last two mean
 * this server cannot do the crypto at all, which is our fault, not the client's.
 */
const CRYPTO_STATUS: Record<CryptoErrorCode, number> = {
  bad_length: 422,
  bad_encoding: 422,
  bad_input: 422,
  bad_params: 422,
  unknown_version: 422,
  truncated: 422,
  trailing_data: 422,
  bad_phrase: 422,
  decrypt_failed: 400,
  bad_signature: 400,
  bad_key: 400,
  bad_log: 400,
  bad_anchor: 400,
  commitment_mismatch: 400,
  not_extractable: 500,
  unsupported: 500,
};

export function cryptoProblem(err: CryptoError): AppError {
  const status = CRYPTO_STATUS[err.code] ?? 500;
  if (status >= 500) {
    return new AppError(
      500,
      'internal',
      'Internal server error',
      'Something went wrong on our side.',
      {
        cause: err,
      },
    );
  }
  // CryptoError messages name what failed (a size, a field), never key material.
  return new AppError(
    status,
    `crypto-${err.code.replace(/_/g, '-')}`,
    'Cryptographic check failed',
    err.message,
    {
      extra: { code: err.code },
    },
  );
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
    if (err instanceof CryptoError) {
      const mapped = cryptoProblem(err);
      if (mapped.status >= 500) logger.error({ err: serializeError(err) }, 'crypto failure');
      return problemResponse(mapped, instance);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      return problemResponse(
        new AppError(status, status === 413 ? 'payload-too-large' : 'http', err.message || 'Error'),
        instance,
      );
    }
    if (isDependencyOutage(err)) {
      logger.warn({ err: serializeError(err) }, 'a dependency is unreachable');
      return problemResponse(
        new ServiceUnavailableError('A storage service is briefly unreachable; retry shortly.'),
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

/** Socket errors, and PostgreSQL's "connection exception" (08) and "operator intervention" (57) classes. */
const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
const OUTAGE_MESSAGES = [
  'Connection terminated', // pg: the backend went away mid-query
  'Connection is closed', // ioredis
  'timeout exceeded when trying to connect', // pg pool
  'Reached the max retries per request limit', // ioredis
];

/**
 * PostgreSQL, Redis or storage going away during a request (a restart, a failover): the client
 * did nothing wrong and may retry, so 503, not 500.
 */
export function isDependencyOutage(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (OUTAGE_CODES.has(code)) return true;
    if (/^(08|57P0)/.test(code)) return true;
  }
  return OUTAGE_MESSAGES.some((m) => err.message.includes(m));
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
