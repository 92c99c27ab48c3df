/** Why a run ended without a reply: a stable code and a sentence a person understands. */
export type FailureCode =
  | 'no-grant'
  | 'grant-expired'
  | 'bad-grant'
  | 'no-write'
  | 'no-api-key'
  | 'message-gone'
  | 'withheld'
  | 'model-refused'
  | 'model-rejected'
  | 'model-unavailable'
  | 'no-answer'
  | 'post-refused'
  | 'internal';

const REASONS: Record<FailureCode, string> = {
  'no-grant': 'no grant for this chat',
  'grant-expired': 'the grant for this chat has expired',
  'bad-grant': 'the grant for this chat does not verify; grant it again',
  'no-write': 'the agent may read but not post in this chat',
  'no-api-key': 'no Anthropic key configured',
  'message-gone': 'the message was deleted',
  withheld: 'the message is hidden from agents',
  'model-refused': 'the model refused',
  'model-rejected': 'the model service rejected the request',
  'model-unavailable': 'the model service is unavailable; gave up after retrying',
  'no-answer': 'the model gave no answer',
  'post-refused': 'the reply could not be posted',
  internal: 'an internal error stopped the run',
};

export class RunFailure extends Error {
  override name = 'RunFailure';
  readonly reason: string;
  constructor(
    readonly code: FailureCode,
    detail?: string,
  ) {
    super(detail ? `${REASONS[code]} (${detail})` : REASONS[code]);
    this.reason = this.message;
  }
}

/** A failure a later attempt may not repeat (rate limit, overload, network, 5xx). */
export class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    message: string,
    /** From the model's retry-after, when it sent one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

const TRANSIENT = new Set([
  'rate-limited',
  'rate-limit-unavailable',
  'audit-unavailable',
  'stale-epoch',
  'internal',
]);

/**
 * A gateway refusal as the run's outcome: transient ones (rate limit, audit or Redis down) are
 * retried by BullMQ; the rest end the run with what people are told.
 */
export function refusalFailure(code: string | undefined): Error {
  if (code && TRANSIENT.has(code)) return new RetryLater(`gateway refused (${code})`, undefined);
  switch (code) {
    case 'grant-expired':
    case 'expired':
      return new RunFailure('grant-expired');
    case 'bad-grant':
      return new RunFailure('bad-grant');
    case 'write-not-allowed':
      return new RunFailure('no-write');
    default:
      return new RunFailure('no-grant');
  }
}
