import { Hono } from 'hono';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CryptoError, type CryptoErrorCode } from '../../src/crypto/errors.ts';
import { onError } from '../../src/http/problem.ts';
import { silentLogger } from '../helpers/app.ts';

describe(onError.name, () => {
  async function answer(code: CryptoErrorCode) {
    const app = new Hono();
    app.get('/x', () => {
      throw new CryptoError(code, `detail for ${code}`);
    });
    app.onError(onError(silentLogger));
    const res = await app.request('/x');
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('maps CryptoError by code: malformed input 422, failed verification 400', async () => {
    for (const code of ['bad_length', 'bad_encoding', 'bad_params', 'unknown_version'] as const) {
      const r = await answer(code);
      expect(r.status, code).toBe(422);
      expect(r.body).toMatchObject({
        type: `urn:vutler:problem:crypto-${code.replace(/_/g, '-')}`,
        code,
        detail: `detail for ${code}`,
      });
    }
    for (const code of [
      'bad_signature',
      'decrypt_failed',
      'bad_key',
      'bad_log',
      'bad_anchor',
      'commitment_mismatch',
    ] as const) {
      expect((await answer(code)).status, code).toBe(400);
    }
  });

  it('answers a crypto failure of the platform as a plain 500 that says nothing more', async () => {
    const r = await answer('unsupported');
    expect(r.status).toBe(500);
    expect(r.body.type).toBe('urn:vutler:problem:internal');
    expect(JSON.stringify(r.body)).not.toContain('detail for');
  });
});

describe('dependency outages', () => {
  async function answerTo(err: unknown) {
    const app = new Hono();
    app.get('/x', () => {
      throw err;
    });
    app.onError(onError(silentLogger));
    const res = await app.request('/x');
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('answers 503 (not 500) when PostgreSQL cannot be reached, and 500 for anything else', async () => {
    // A real driver error: nothing listens on port 1.
    const client = new pg.Client({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 });
    const refused = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(Error);
    const r = await answerTo(refused);
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ type: 'urn:vutler:problem:unavailable' });
    expect(JSON.stringify(r.body)).not.toContain('127.0.0.1');
    // PostgreSQL's admin shutdown (57P01) as the driver reports it.
    expect(
      (await answerTo(Object.assign(new Error('terminating connection'), { code: '57P01' })))
        .status,
    ).toBe(503);
    // A plain bug stays a 500.
    expect((await answerTo(new TypeError('x is undefined'))).status).toBe(500);
    // A constraint violation (23505) is not an outage.
    expect(
      (await answerTo(Object.assign(new Error('duplicate key'), { code: '23505' }))).status,
    ).toBe(500);
  });
});
