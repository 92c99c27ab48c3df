import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';
import { jsonish, nastyString, storedState } from './fuzz.ts';

/**
 * Every HTTP route on main, fuzzed in-process through the real app (real PostgreSQL and Redis):
 * whatever comes in, the answer is a 4xx/2xx (never 5xx), carries the security headers, and a
 * batch in which every request was refused leaves stored data exactly as it was.
 */
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS_PER_ROUTE ?? 150);
/** Routes that end the fuzzing user's own session when they succeed. */
const REVOKES_SESSION = new Set(['POST /api/auth/logout', 'PUT /api/keys/passphrase']);

describe('HTTP fuzzing of every route', () => {
  const ctx = useTestServer({ VUTLER_METRICS_TOKEN: 'm'.repeat(32) });
  let alice: Awaited<ReturnType<typeof person>>;
  let bob: Awaited<ReturnType<typeof person>>;
  let ids: string[];
  let total = 0;

  beforeAll(async () => {
    alice = await person(ctx.server.url, 'alice');
    bob = await person(ctx.server.url, 'bob');
    const mine = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const theirs = await bob.client.chats.create({ kind: 'group', memberIds: [] });
    const msg = await bob.client.chats.send(theirs.id, 'bob alone');
    ids = [mine.id, theirs.id, msg.id, alice.id, bob.id];
  });

  function routes() {
    const seen = new Set<string>();
    return ctx.server.vutler.app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== '/ws')
      .filter((r) => {
        const k = `${r.method} ${r.path}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
  }

  it('covers every route the app mounts', () => {
    expect(routes().length).toBeGreaterThanOrEqual(20);
  });

  it('answers no 5xx, always with security headers, and changes nothing when it refuses', async () => {
    const app = ctx.server.vutler.app;
    for (const route of routes()) {
      const key = `${route.method} ${route.path}`;
      const tokens = () => [
        undefined,
        'vt_s_garbage',
        'Bearer',
        ...(REVOKES_SESSION.has(key) ? [] : [alice.client.session?.token as string]),
      ];
      const arb = fc.record({
        params: fc.array(fc.oneof(fc.constantFrom(...ids), nastyString), {
          minLength: 3,
          maxLength: 3,
        }),
        token: fc.constantFrom(...tokens()),
        body: fc.oneof(
          jsonish.map((v) => JSON.stringify(v)),
          nastyString,
          fc.constant(undefined),
        ),
        contentType: fc.constantFrom('application/json', 'text/plain', undefined),
        query: fc.array(fc.tuple(nastyString, nastyString), { maxLength: 3 }),
      });
      const before = await storedState(ctx.db.pool);
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          let i = 0;
          const path = route.path.replace(/:[A-Za-z]+/g, () =>
            encodeURIComponent(c.params[i++] ?? 'x'),
          );
          const qs = new URLSearchParams(c.query).toString();
          const headers: Record<string, string> = {};
          if (c.token) headers.authorization = `Bearer ${c.token}`;
          if (c.contentType) headers['content-type'] = c.contentType;
          const hasBody = route.method !== 'GET' && route.method !== 'HEAD';
          const res = await app.request(`${path}${qs ? `?${qs}` : ''}`, {
            method: route.method,
            headers,
            body: hasBody ? c.body : undefined,
          });
          total++;
          // Headers first: @hono/node-server's lightweight Response rebuilds them once read.
          const nosniff = res.headers.get('x-content-type-options');
          const text = await res.text();
          if (res.status >= 500) throw new Error(`${key} -> ${res.status}: ${text}`);
          expect(nosniff, `${key} -> ${res.status}`).toBe('nosniff');
          if (res.status < 400) accepted++;
        }),
        { numRuns: RUNS_PER_ROUTE },
      );
      if (accepted === 0) {
        const after = await storedState(ctx.db.pool);
        expect(after, `${key}: refused input changed stored data`).toBe(before);
      }
    }
    console.log(`HTTP fuzz: ${total} requests over ${routes().length} routes, no 5xx`);
    expect(total).toBeGreaterThanOrEqual(routes().length * RUNS_PER_ROUTE);
  });
});
