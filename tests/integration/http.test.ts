import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonBody } from '../../src/http/validate.ts';
import { buildApp, testRedis, unreachableRedis } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const PROBLEM = 'application/problem+json';

describe('the HTTP foundation', () => {
  let db: TestDatabase;
  let redis: Redis;
  beforeAll(async () => {
    db = await createTestDatabase();
    redis = testRedis();
  });
  afterAll(async () => {
    redis.disconnect();
    await db.drop();
  });

  function app(overrides: Record<string, string> = {}) {
    const a = buildApp(db.pool, redis, overrides);
    // A route like every real one: zod-validated JSON body.
    a.post('/__test/echo', async (c) =>
      c.json(await jsonBody(c, z.object({ name: z.string().min(1).max(10) }).strict())),
    );
    return a;
  }

  it('answers /health and /ready 200 when PostgreSQL and Redis answer', async () => {
    const a = app();
    expect((await a.request('/health')).status).toBe(200);
    const res = await a.request('/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ready',
      checks: { postgres: { ok: true }, redis: { ok: true } },
    });
  });

  it('answers /ready 503 naming Redis when Redis is unreachable', async () => {
    const down = unreachableRedis();
    const a = buildApp(db.pool, down);
    const res = await a.request('/ready');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    const body = await res.json();
    expect(body.failed).toEqual(['redis']);
    expect(body.detail).toMatch(/redis/);
    expect(body.checks.postgres.ok).toBe(true);
    down.disconnect();
  });

  it('answers /ready 503 naming PostgreSQL when its pool cannot connect', async () => {
    const { default: pg } = await import('pg');
    const badPool = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 500,
    });
    const a = buildApp(badPool, redis);
    const res = await a.request('/ready');
    expect(res.status).toBe(503);
    expect((await res.json()).failed).toEqual(['postgres']);
    await badPool.end();
  });

  it('returns 404 as problem+json carrying the request id', async () => {
    const res = await app().request('/no/such/route', { headers: { 'x-request-id': 'req-123' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    expect(res.headers.get('x-request-id')).toBe('req-123');
    expect(await res.json()).toMatchObject({
      type: 'urn:vutler:problem:not-found',
      status: 404,
      requestId: 'req-123',
    });
  });

  it('makes up a request id when the caller sends none or an unsafe one', async () => {
    const res = await app().request('/nope', {
      headers: { 'x-request-id': 'bad id {with} "quotes" and spaces' },
    });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await res.json()).requestId).toBe(id);
  });

  it('returns a validation error as problem+json with the request id and the failing paths', async () => {
    const res = await app().request('/__test/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'val-1' },
      body: JSON.stringify({ name: '', extra: 1 }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    const body = await res.json();
    expect(body).toMatchObject({ type: 'urn:vutler:problem:validation', requestId: 'val-1' });
    expect(body.errors.map((e: { path: string }) => e.path)).toContain('name');
  });

  it('returns 400 for malformed JSON and 415 for a non-JSON body', async () => {
    const a = app();
    const bad = await a.request('/__test/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).type).toBe('urn:vutler:problem:malformed-json');
    const text = await a.request('/__test/echo', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(text.status).toBe(415);
  });

  it('returns 413 for a body over the limit, declared or streamed', async () => {
    const a = app({ VUTLER_BODY_LIMIT_BYTES: '1024' });
    const big = JSON.stringify({ name: 'x'.repeat(5000) });
    const declared = await a.request('/__test/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(declared.headers.get('content-type')).toBe(PROBLEM);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(500)));
        controller.close();
      },
    });
    const streamed = await a.request('/__test/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      // @ts-expect-error Node's fetch needs duplex for a streamed body
      duplex: 'half',
    });
    expect(streamed.status).toBe(413);
  });

  it('returns 405 with Allow for a wrong method on a known path', async () => {
    const res = await app().request('/ready', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(res.headers.get('content-type')).toBe(PROBLEM);
  });

  it('hides internal errors behind a 500 problem without details', async () => {
    const a = app();
    a.get('/__test/boom', () => {
      throw new Error('secret internal detail');
    });
    const res = await a.request('/__test/boom');
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(JSON.stringify(body)).not.toContain('secret internal detail');
    expect(body.requestId).toBeTruthy();
  });
});
