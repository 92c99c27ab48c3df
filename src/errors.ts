/**
 * Typed application errors. One mapper (`http/problem.ts`) turns them — and `CryptoError`s, by
 * code — into `application/problem+json`. Messages must never contain plaintext content, keys or
 * tokens. (Workers decide retry versus failure themselves, with BullMQ's `UnrecoverableError`.)
 */
export class AppError extends Error {
  readonly status: number;
  /** Stable slug, becomes the problem `type`. */
  readonly type: string;
  readonly title: string;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    type: string,
    title: string,
    detail?: string,
    opts: {
      extra?: Record<string, unknown>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(detail ?? title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.status = status;
    this.type = type;
    this.title = title;
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
  }
}

export class BadRequestError extends AppError {
  constructor(detail: string, extra?: Record<string, unknown>) {
    super(400, 'bad-request', 'Bad request', detail, { extra });
  }
}

export class MalformedJsonError extends AppError {
  constructor() {
    super(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid UTF-8 JSON.');
  }
}

export interface ValidationIssue {
  path: string;
  message: string;
}

export class ValidationError extends AppError {
  constructor(issues: ValidationIssue[], where = 'body') {
    super(422, 'validation', 'Validation failed', `The request ${where} failed validation.`, {
      extra: { errors: issues },
    });
  }
}

export class UnauthorizedError extends AppError {
  constructor(detail = 'Authentication is required.') {
    super(401, 'unauthorized', 'Unauthorized', detail, {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
}

export class ForbiddenError extends AppError {
  constructor(detail = 'You may not do this.') {
    super(403, 'forbidden', 'Forbidden', detail);
  }
}

/** Also used for "exists but not yours": callers must not learn which. */
export class NotFoundError extends AppError {
  constructor(detail = 'No such resource, or no access to it.') {
    super(404, 'not-found', 'Not found', detail);
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(allowed: string[]) {
    super(405, 'method-not-allowed', 'Method not allowed', `Allowed: ${allowed.join(', ')}.`, {
      headers: { allow: allowed.join(', ') },
    });
  }
}

export class ConflictError extends AppError {
  constructor(type: string, detail: string, extra?: Record<string, unknown>) {
    super(409, type, 'Conflict', detail, { extra });
  }
}

export class GoneError extends AppError {
  constructor(detail: string) {
    super(410, 'gone', 'Gone', detail);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(413, 'payload-too-large', 'Payload too large', `The body exceeds ${limitBytes} bytes.`, {
      extra: { limitBytes },
    });
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(expected: string) {
    super(415, 'unsupported-media-type', 'Unsupported media type', `Send ${expected}.`);
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate-limited', 'Too many requests', 'Slow down and retry later.', {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
      extra: { retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)) },
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(detail: string, extra?: Record<string, unknown>) {
    super(503, 'unavailable', 'Service unavailable', detail, { extra });
  }
}
