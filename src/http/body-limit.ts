import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError } from '../errors.ts';
import { untouchedIncoming } from './node-request.ts';

/** Read and discard at most this much of a refused body before answering. */
const DRAIN_CAP_BYTES = 8 * 1024 * 1024;

/**
 * Hono's body limit, answering 413 problem+json. Before answering, the refused body is read and
 * discarded (up to 8 MiB): an HTTP/1.1 client still uploading when the server replies and closes
 * would otherwise see a reset connection instead of the 413.
 */
export function payloadLimit(maxBytes: number): MiddlewareHandler {
  const limit = honoLimit(maxBytes);
  return async (c, next) => {
    // A Node request with a Content-Length (and no Transfer-Encoding) is judged by that header,
    // as Hono's limit does, but without building the WHATWG Request to read it: Node's parser
    // holds the body to exactly that length. One with neither has no body. Anything else
    // (chunked bodies, requests not from a socket) goes through Hono's limit, which counts bytes.
    const incoming = untouchedIncoming(c);
    if (incoming && incoming.headers['transfer-encoding'] === undefined) {
      const length = incoming.headers['content-length'];
      if (length === undefined) return next();
      if (Number(length) <= maxBytes) return next();
    }
    return limit(c, next);
  };
}

function honoLimit(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: async (c) => {
      const body = c.req.raw.body;
      if (body && !body.locked) {
        let seen = 0;
        try {
          const reader = body.getReader();
          while (seen < DRAIN_CAP_BYTES) {
            const { done, value } = await reader.read();
            if (done) break;
            seen += value.byteLength;
          }
          await reader.cancel().catch(() => undefined);
        } catch {
          // The peer went away: nothing left to answer.
        }
      }
      throw new PayloadTooLargeError(maxBytes);
    },
  });
}
