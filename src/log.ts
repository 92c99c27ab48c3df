import { AsyncLocalStorage } from 'node:async_hooks';
import { type Logger, pino } from 'pino';

/** Per-request (or per-job) context carried through async calls. */
export interface RequestContext {
  requestId: string;
  queue?: string;
  jobId?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

export function currentRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

/**
 * Fields that must never reach a log line even if someone passes a whole object.
 * Belt and braces: the rule is not to log secrets at all.
 */
const REDACT = [
  'password',
  'passphrase',
  'token',
  'authKey',
  'authorization',
  'cookie',
  '*.password',
  '*.passphrase',
  '*.token',
  '*.authKey',
  '*.authorization',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      mixin() {
        const ctx = requestContext.getStore();
        if (!ctx) return {};
        return { reqId: ctx.requestId, queue: ctx.queue, jobId: ctx.jobId };
      },
    },
    destination,
  );
}
