/**
 * Node-only: a `fetch` for requests whose body is bytes (file chunk uploads), on `node:http`.
 * Node's built-in fetch copies a byte body twice and pushes it through a web stream; with 1 MiB
 * chunks that is most of the client's CPU and garbage. This writes the bytes to the socket as
 * they are. Every other request goes to the global `fetch`. Pass it as `uploadFetch` to
 * `VutlerClient` (the browser bundle never imports this file).
 */
import http from 'node:http';
import https from 'node:https';
import type { FetchLike } from './http.ts';

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

export function nodeUploadFetch(
  opts: { agents?: { http: http.Agent; https: https.Agent } } = {},
): FetchLike {
  const agents = opts.agents ?? {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  return (input, init = {}) => {
    const body = init.body;
    if (!(body instanceof Uint8Array)) return fetch(input, init);
    const url = new URL(input);
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') return fetch(input, init);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    headers['content-length'] = String(body.byteLength);
    const signal = init.signal ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const req = (secure ? https : http).request(url, {
        method: init.method ?? 'POST',
        headers,
        agent: secure ? agents.https : agents.http,
      });
      const onAbort = () => req.destroy(abortError(signal!) as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      req.on('error', (err) => {
        done();
        reject(
          signal?.aborted ? abortError(signal) : new TypeError('fetch failed', { cause: err }),
        );
      });
      req.on('response', (res) => {
        // Answers to uploads are small JSON documents (or problems): read them whole.
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('error', (err) => {
          done();
          reject(new TypeError('fetch failed', { cause: err }));
        });
        res.on('end', () => {
          done();
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) h.append(k, x);
            else if (v !== undefined) h.set(k, v);
          }
          const status = res.statusCode ?? 502;
          const noBody = status === 204 || status === 304;
          resolve(
            new Response(noBody ? null : Buffer.concat(parts), {
              status,
              statusText: res.statusMessage ?? '',
              headers: h,
            }),
          );
        });
      });
      req.end(body);
    });
  };
}
