import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import { NotFoundError, ServiceUnavailableError } from '../errors.ts';
import { readManifest, WEB_DIST_DIR, type WebManifest } from './build.ts';

/**
 * The page's policy: nothing inline, no eval, no third party, network only to this origin
 * (fetch and the WebSocket). Styles come from the bundled stylesheet only, so no `style=""`.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/**
 * A worker takes the policy of its own script's response. The Argon2id worker runs hash-wasm's
 * WebAssembly, which needs 'wasm-unsafe-eval' (compiling wasm, not JavaScript eval); the page
 * itself never gets it.
 */
export const WORKER_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "connect-src 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** `GET /` and `/assets/*`: the built web app, with its security headers. */
export function webRoutes(dir = WEB_DIST_DIR) {
  const app = new Hono();
  let manifest: WebManifest | undefined;
  const cache = new Map<string, Buffer>();

  const read = async (reqPath: string) => {
    const fresh = await readManifest(dir);
    if (fresh && fresh.builtAt !== manifest?.builtAt) {
      manifest = fresh;
      cache.clear();
    }
    if (!manifest)
      throw new ServiceUnavailableError('The web app is not built yet: run `npm run build:web`.');
    const rel = manifest.files[reqPath];
    if (!rel) return undefined;
    let body = cache.get(rel);
    if (!body) {
      body = await readFile(path.join(dir, rel));
      cache.set(rel, body);
    }
    return { rel, body, manifest };
  };

  // A rebuild by another process may swap the bundle between reading the manifest and a file:
  // one retry with the new manifest covers it.
  const lookup = (reqPath: string) =>
    read(reqPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      manifest = undefined;
      return read(reqPath);
    });

  app.on(['GET', 'HEAD'], ['/', '/assets/:file'], async (c) => {
    const found = await lookup(c.req.path);
    if (!found) throw new NotFoundError(`No file ${c.req.path} in the web app.`);
    const { rel, body } = found;
    const isWorker = rel === `assets/${found.manifest.worker}`;
    c.header('content-type', TYPES[path.extname(rel)] ?? 'application/octet-stream');
    c.header('content-security-policy', isWorker ? WORKER_CSP : PAGE_CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('cross-origin-opener-policy', 'same-origin');
    c.header('cross-origin-resource-policy', 'same-origin');
    c.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
    // Asset names carry a content hash; the page itself must always be revalidated.
    c.header(
      'cache-control',
      rel === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
    );
    return c.body(new Uint8Array(body));
  });

  return app;
}
