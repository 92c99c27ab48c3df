import { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/**
 * The Node request behind a Hono context served by @hono/node-server (`c.env.incoming`), if its
 * body has not been touched yet. Reading that directly skips the WHATWG `Request` and the web
 * stream @hono/node-server otherwise builds around it for every request with a body. Once
 * anything else started reading (`c.req.raw.body`, `c.req.arrayBuffer()`, Hono's body limit on
 * a chunked body) the stream is flowing or consumed, and this answers `undefined`.
 */
export function untouchedIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage)) return undefined;
  if (incoming.readableFlowing !== null || incoming.readableDidRead || incoming.readableEnded)
    return undefined;
  return incoming;
}

/** The whole body of an untouched Node request; rejects (TypeError) if the peer goes away first. */
export function readIncoming(incoming: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    };
    const done = (err?: Error) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(new TypeError(`request body: ${err.message}`));
    const onClose = () => done(new TypeError('request body: connection closed'));
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onError);
    incoming.once('close', onClose);
  });
}
