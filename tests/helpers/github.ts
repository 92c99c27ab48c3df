import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Webhooks } from '@octokit/webhooks';
import { afterAll, beforeAll } from 'vitest';

const require = createRequire(import.meta.url);

interface ExampleEvent {
  name: string;
  examples: Array<Record<string, unknown>>;
}

/** `@octokit/webhooks-examples`' payloads of one event (GitHub's own samples). */
export function examplesOf(event: string): Array<Record<string, unknown>> {
  const all = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleEvent[];
  const e = all.find((x) => x.name === event);
  if (!e) throw new Error(`no examples for ${event}`);
  return structuredClone(e.examples);
}

/** The repository GitHub's push examples come from. */
export const EXAMPLE_REPO = { id: 186853002, owner: 'Codertocat', name: 'Hello-World' };

/** A fresh 40-hex commit id. */
export const newSha = () => randomBytes(20).toString('hex');

/** A push like GitHub's, to `ref` of the example repository. */
export function pushPayload(ref: string, opts: { after?: string; deleted?: boolean } = {}) {
  const base = examplesOf('push').find((p) => p.ref === 'refs/heads/master') as Record<
    string,
    unknown
  >;
  return {
    ...base,
    ref,
    after: opts.deleted ? '0'.repeat(40) : (opts.after ?? newSha()),
    deleted: opts.deleted ?? false,
  };
}

/** POSTs a delivery the way GitHub does, signed with `secret` unless `signature` is given. */
export async function deliver(
  baseUrl: string,
  integrationId: string,
  event: string,
  payload: unknown,
  opts: {
    secret?: string;
    signature?: string | null;
    delivery?: string;
    contentType?: string;
  } = {},
) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': opts.contentType ?? 'application/json',
    'x-github-event': event,
    'x-github-delivery': opts.delivery ?? randomUUID(),
    'user-agent': 'GitHub-Hookshot/test',
  };
  const signature =
    opts.signature === undefined
      ? await new Webhooks({ secret: opts.secret ?? 'unset' }).sign(body)
      : opts.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  return fetch(`${baseUrl}/webhooks/github/${integrationId}`, { method: 'POST', headers, body });
}

/** Connects a pasted token for `client`'s user and `EXAMPLE_REPO` (or `repo`) with a deploy config. */
export async function connectExampleRepo(
  baseUrl: string,
  sessionToken: string,
  standin: import('./github-standin.ts').GithubStandIn,
  config: Record<string, unknown> = {},
) {
  const token = `ghp_${randomBytes(18).toString('hex')}`;
  standin.addToken(token, { id: 5000 + Math.floor(Math.random() * 1e6), login: 'octocat' });
  if (!standin.repos.some((r) => r.id === EXAMPLE_REPO.id)) standin.repos.push({ ...EXAMPLE_REPO });
  const auth = { authorization: `Bearer ${sessionToken}`, 'content-type': 'application/json' };
  const integ = await fetch(`${baseUrl}/api/github/integrations`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ token }),
  });
  if (integ.status !== 201) throw new Error(`connect token: ${integ.status} ${await integ.text()}`);
  const integration = (await integ.json()) as { id: string; webhookSecret: string };
  const res = await fetch(`${baseUrl}/api/github/repos`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      integrationId: integration.id,
      owner: EXAMPLE_REPO.owner,
      name: EXAMPLE_REPO.name,
      branch: 'master',
      environment: 'production',
      strategy: { type: 'workflow_dispatch', workflow: 'deploy.yml' },
      ...config,
    }),
  });
  if (res.status !== 201) throw new Error(`connect repo: ${res.status} ${await res.text()}`);
  const repo = (await res.json()) as {
    id: string;
    webhookCreated: boolean;
    hookSigningKey?: string;
  };
  return { token, integration, secret: integration.webhookSecret, repo, auth };
}

export interface GithubServerContext {
  readonly db: import('./db.ts').TestDatabase;
  readonly redis: import('ioredis').Redis;
  readonly server: import('./app.ts').TestServer;
  readonly standin: import('./github-standin.ts').GithubStandIn;
}

/**
 * For a describe block: the GitHub stand-in, then a fresh database, Redis client and the app on
 * a socket pointed at the stand-in (`GITHUB_URL` / `GITHUB_API_URL`).
 */
export function useGithubServer(overrides: Record<string, string> = {}): GithubServerContext {
  const state: Partial<Record<keyof GithubServerContext, unknown>> = {};
  beforeAll(async () => {
    const { createTestDatabase } = await import('./db.ts');
    const { startTestServer, testRedis } = await import('./app.ts');
    const { startGithubStandIn } = await import('./github-standin.ts');
    state.standin = await startGithubStandIn();
    state.db = await createTestDatabase();
    state.redis = testRedis();
    const s = state as unknown as GithubServerContext;
    state.server = await startTestServer(s.db.pool, s.redis, {
      GITHUB_URL: s.standin.url,
      GITHUB_API_URL: s.standin.apiUrl,
      VUTLER_AT_REST_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      GITHUB_RETRY_BASE_MS: '5',
      ...overrides,
    });
  });
  afterAll(async () => {
    const s = state as Partial<GithubServerContext>;
    await s.server?.close();
    await s.standin?.close();
    s.redis?.disconnect();
    await s.db?.drop();
  });
  return new Proxy(state, {
    get(target, p) {
      const v = (target as Record<string | symbol, unknown>)[p];
      if (v === undefined) throw new Error(`useGithubServer: ${String(p)} used outside a test`);
      return v;
    },
  }) as unknown as GithubServerContext;
}
