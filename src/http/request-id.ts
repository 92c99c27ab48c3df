import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { requestContext } from '../log.ts';

/** Accept a caller's id only if it is short and plain, so it cannot inject into logs. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

/** Gives every request an id (echoed in a header), runs it inside the log context, logs the outcome. */
export function requestIdAndLog(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const requestId = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
    c.header(REQUEST_ID_HEADER, requestId);
    const started = performance.now();
    await requestContext.run({ requestId }, async () => {
      await next();
      // Path only: query strings may carry an email or a cursor we'd rather not keep.
      logger.info(
        {
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    });
    // Errors mapped by onError produce a fresh Response; make sure it carries the id too.
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  };
}
