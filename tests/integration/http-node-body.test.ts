import net from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonBody } from '../../src/http/validate.ts';
import { buildVutler, serveApp, type TestServer, testRedis } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** Raw HTTP/1.1 over a socket, so the body arrives in the pieces (and framing) the test chooses. */
function raw(
  url: string,
  pieces: (string | Buffer)[],
  opts: { endAfter?: boolean } = {},
): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1');
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.on('connect', async () => {
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (opts.endAfter) s.end();
    });
  });
}

const status = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);

describe('request bodies read straight from the Node request (real socket)', () => {
  let db: TestDatabase;
  let redis: Redis;
  let server: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
    const vutler = buildVutler(db.pool, redis, { VUTLER_BODY_LIMIT_BYTES: '1024' });
    vutler.app.post('/__test/echo', async (c) =>
      c.json(await jsonBody(c, z.object({ name: z.string().min(1).max(2000) }).strict())),
    );
    server = await serveApp(vutler);
  });
  afterAll(async () => {
    await server?.close();
    redis?.disconnect();
    await db?.drop();
  });

  const head = (extra: string) =>
    `POST /__test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n${extra}\r\n`;

  it('reads a declared body that arrives in several pieces', async () => {
    const body = JSON.stringify({ name: 'piecewise' });
    const res = await raw(server.url, [
      head(`Content-Length: ${body.length}\r\n`),
      body.slice(0, 5),
      body.slice(5, 11),
      body.slice(11),
    ]);
    expect(status(res)).toBe(200);
    expect(res).toContain('{"name":"piecewise"}');
  });

  it('reads a chunked body within the limit', async () => {
    const body = JSON.stringify({ name: 'chunked' });
    const res = await raw(server.url, [
      head('Transfer-Encoding: chunked\r\n'),
      `${(8).toString(16)}\r\n${body.slice(0, 8)}\r\n`,
      `${(body.length - 8).toString(16)}\r\n${body.slice(8)}\r\n0\r\n\r\n`,
    ]);
    expect(status(res)).toBe(200);
    expect(res).toContain('{"name":"chunked"}');
  });

  it('refuses a declared body over the limit (413) and a chunked one that grows past it', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(1500) });
    expect(status(await raw(server.url, [head(`Content-Length: ${big.length}\r\n`), big]))).toBe(
      413,
    );
    const half = big.slice(0, 800);
    const rest = big.slice(800);
    const res = await raw(server.url, [
      head('Transfer-Encoding: chunked\r\n'),
      `${half.length.toString(16)}\r\n${half}\r\n`,
      `${rest.length.toString(16)}\r\n${rest}\r\n0\r\n\r\n`,
    ]);
    expect(status(res)).toBe(413);
  });

  it('answers 400 for a body with no bytes, and survives a peer that leaves mid-body', async () => {
    expect(status(await raw(server.url, [head('Content-Length: 0\r\n')]))).toBe(400);
    expect(status(await raw(server.url, [head('')]))).toBe(400);
    await raw(server.url, [head('Content-Length: 500\r\n'), '{"name":"cut'], { endAfter: true });
    const ok = await fetch(`${server.url}/__test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'still here' }),
    });
    expect(ok.status).toBe(200);
  });

  it('refuses bytes that are not UTF-8 (400), as through the WHATWG path', async () => {
    const body = Buffer.concat([
      Buffer.from('{"name":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const res = await raw(server.url, [head(`Content-Length: ${body.length}\r\n`), body]);
    expect(status(res)).toBe(400);
    expect(res).toContain('malformed-json');
  });
});
