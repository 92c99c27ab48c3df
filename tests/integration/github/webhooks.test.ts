import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AtRestKeyring } from '../../../src/atrest.ts';
import { GithubRepository } from '../../../src/github/github.repository.ts';
import { KeyringSealer } from '../../../src/github/sealing.ts';
import { IntegrationSecrets } from '../../../src/github/secrets.ts';
import {
  connectExampleRepo,
  deliver,
  examplesOf,
  newSha,
  pushPayload,
  useGithubServer,
} from '../../helpers/github.ts';
import { person } from '../../helpers/people.ts';

const KEYS = `k1:${randomBytes(32).toString('base64')}`;

describe('POST /webhooks/github/:integrationId', () => {
  const t = useGithubServer({ VUTLER_AT_REST_KEYS: KEYS });
  let env: Awaited<ReturnType<typeof connectExampleRepo>>;
  let other: Awaited<ReturnType<typeof connectExampleRepo>>;

  const deploymentsOf = async (repoId: string) =>
    (
      await t.db.pool.query<{ id: string; state: string; sha: string }>(
        'SELECT id, state, sha FROM deployments WHERE repo_id = $1 ORDER BY created_at',
        [repoId],
      )
    ).rows;

  beforeAll(async () => {
    const alice = await person(t.server.url, 'alice');
    const bob = await person(t.server.url, 'bob');
    env = await connectExampleRepo(t.server.url, alice.client.session?.token ?? '', t.standin);
    other = await connectExampleRepo(t.server.url, bob.client.session?.token ?? '', t.standin);
  });

  it('accepts every push and ping example of @octokit/webhooks-examples when signed with the integration’s secret', async () => {
    for (const event of ['push', 'ping'] as const) {
      const examples = examplesOf(event);
      expect(examples.length).toBeGreaterThanOrEqual(event === 'push' ? 7 : 4);
      for (const payload of examples) {
        const res = await deliver(t.server.url, env.integration.id, event, payload, {
          secret: env.secret,
        });
        expect(res.status, `${event} example`).toBe(202);
      }
    }
  });

  it('refuses (401) a wrong, missing or other integration’s signature, and records nothing', async () => {
    const payload = pushPayload('refs/heads/master');
    const delivery = randomUUID();
    for (const signature of [`sha256=${'0'.repeat(64)}`, null, 'sha1=abc', '']) {
      const res = await deliver(t.server.url, env.integration.id, 'push', payload, {
        signature,
        delivery,
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    const otherSigned = await deliver(t.server.url, env.integration.id, 'push', payload, {
      secret: other.secret,
      delivery,
    });
    expect(otherSigned.status).toBe(401);
    const { rows } = await t.db.pool.query(
      'SELECT 1 FROM webhook_deliveries WHERE delivery_id = $1',
      [delivery],
    );
    expect(rows).toHaveLength(0);
  });

  it('passes GitHub’s documented example secret, payload and signature', async () => {
    // docs.github.com "Validating webhook deliveries": secret, payload and the signature they give.
    const alice = await person(t.server.url, 'doc');
    const secrets = new IntegrationSecrets(
      new KeyringSealer(
        new AtRestKeyring([{ id: 'k1', key: Buffer.from(KEYS.slice(3), 'base64') }]),
      ),
    );
    const repo = new GithubRepository(t.db.pool);
    const row = await repo.upsertIntegration({
      userId: alice.id,
      githubUserId: 1,
      login: 'doc',
      kind: 'token',
      access: secrets.seal('access_token_encrypted', alice.id, 1, 'ghp_unused_unused_unused'),
      refresh: null,
      secret: secrets.seal('webhook_secret_encrypted', alice.id, 1, "It's a Secret to Everybody"),
      scopes: [],
    });
    const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    const ok = await deliver(t.server.url, row.id, 'ping', 'Hello, World!', { signature });
    // Verified, then refused as JSON: the signature check passed (a bad one is a 401).
    expect(ok.status).toBe(400);
    expect(((await ok.json()) as { type: string }).type).toContain('malformed-json');
    const bad = await deliver(t.server.url, row.id, 'ping', 'Hello, World?', { signature });
    expect(bad.status).toBe(401);
  });

  it('verifies with the current secret only: a replaced secret is refused at once, a removed integration is 404', async () => {
    const alice = await person(t.server.url, 'rotor');
    const secrets = new IntegrationSecrets(
      new KeyringSealer(
        new AtRestKeyring([{ id: 'k1', key: Buffer.from(KEYS.slice(3), 'base64') }]),
      ),
    );
    const repo = new GithubRepository(t.db.pool);
    const row = await repo.upsertIntegration({
      userId: alice.id,
      githubUserId: 2,
      login: 'rotor',
      kind: 'token',
      access: secrets.seal('access_token_encrypted', alice.id, 2, 'ghp_unused_unused_unused'),
      refresh: null,
      secret: secrets.seal('webhook_secret_encrypted', alice.id, 2, 'first-secret'),
      scopes: [],
    });
    const ping = (secret: string) =>
      deliver(t.server.url, row.id, 'ping', examplesOf('ping')[0], { secret });
    // Seen (and its verifier kept) with the first secret.
    expect((await ping('first-secret')).status).toBe(202);
    expect((await ping('first-secret')).status).toBe(202);
    await repo.setWebhookSecret(
      row.id,
      secrets.seal('webhook_secret_encrypted', alice.id, 2, 'second-secret'),
    );
    expect((await ping('first-secret')).status).toBe(401);
    expect((await ping('second-secret')).status).toBe(202);
    await repo.deleteIntegration(row.id, alice.id);
    expect((await ping('second-secret')).status).toBe(404);
  });

  it('answers an unknown or malformed integration id with 404, signed or not', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await deliver(t.server.url, id, 'ping', examplesOf('ping')[0], {
        secret: env.secret,
      });
      expect(res.status).toBe(404);
    }
  });

  it('refuses a wrong content type (415), malformed JSON (400), missing headers (400) and an oversized body (413)', async () => {
    const body = JSON.stringify(examplesOf('ping')[0]);
    const form = await deliver(
      t.server.url,
      env.integration.id,
      'ping',
      `payload=${encodeURIComponent(body)}`,
      {
        secret: env.secret,
        contentType: 'application/x-www-form-urlencoded',
      },
    );
    expect(form.status).toBe(415);
    const bad = await deliver(t.server.url, env.integration.id, 'push', '{"ref":', {
      secret: env.secret,
    });
    expect(bad.status).toBe(400);
    const noDelivery = await deliver(t.server.url, env.integration.id, 'push', body, {
      secret: env.secret,
      delivery: '',
    });
    expect(noDelivery.status).toBe(400);
    const huge = JSON.stringify({
      ...pushPayload('refs/heads/master'),
      pad: 'x'.repeat(1_100_000),
    });
    const big = await deliver(t.server.url, env.integration.id, 'push', huge, {
      secret: env.secret,
    });
    expect(big.status).toBe(413);
  });

  it('records and ignores unhandled events with 202', async () => {
    const delivery = randomUUID();
    const res = await deliver(t.server.url, env.integration.id, 'issues', examplesOf('issues')[0], {
      secret: env.secret,
      delivery,
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ outcome: 'ignored', deployments: 0 });
    const { rows } = await t.db.pool.query(
      'SELECT event, outcome FROM webhook_deliveries WHERE delivery_id = $1',
      [delivery],
    );
    expect(rows).toEqual([{ event: 'issues', outcome: 'ignored' }]);
  });

  it('never deploys a tag push, a branch deletion or another branch', async () => {
    const before = (await deploymentsOf(env.repo.id)).length;
    for (const payload of [
      pushPayload('refs/tags/v1.0.0'),
      pushPayload('refs/heads/master', { deleted: true }),
      pushPayload('refs/heads/feature'),
      {
        ...pushPayload('refs/heads/master'),
        repository: { id: 1 },
      },
    ]) {
      const res = await deliver(t.server.url, env.integration.id, 'push', payload, {
        secret: env.secret,
      });
      expect(res.status).toBe(202);
      expect(await res.json()).toMatchObject({ outcome: 'ignored', deployments: 0 });
    }
    expect(await deploymentsOf(env.repo.id)).toHaveLength(before);
  });

  it('deploys a push to the deploy branch once, however often the delivery is repeated', async () => {
    const delivery = randomUUID();
    const payload = pushPayload('refs/heads/master');
    const answers = await Promise.all(
      [0, 1, 2].map(() =>
        deliver(t.server.url, env.integration.id, 'push', payload, {
          secret: env.secret,
          delivery,
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    const outcomes = (await Promise.all(answers.map((a) => a.json()))).map(
      (b) => (b as { outcome: string }).outcome,
    );
    expect(outcomes.sort()).toEqual(['deploy', 'duplicate', 'duplicate']);
    const rows = (await deploymentsOf(env.repo.id)).filter((d) => d.sha === payload.after);
    expect(rows).toHaveLength(1);
    const outbox = await t.db.pool.query(
      `SELECT 1 FROM outbox WHERE queue = 'deploys' AND payload->>'deploymentId' = $1`,
      [rows[0]?.id],
    );
    expect(outbox.rows).toHaveLength(1);
  });

  it('leaves only the newest of 20 rapid pushes queued; the others are superseded', async () => {
    const shas = Array.from({ length: 20 }, newSha);
    for (const sha of shas) {
      const res = await deliver(
        t.server.url,
        env.integration.id,
        'push',
        pushPayload('refs/heads/master', { after: sha }),
        {
          secret: env.secret,
        },
      );
      expect(res.status).toBe(202);
    }
    const rows = (await deploymentsOf(env.repo.id)).filter((d) => shas.includes(d.sha));
    expect(rows).toHaveLength(20);
    expect(rows.filter((d) => d.state === 'queued').map((d) => d.sha)).toEqual([shas[19]]);
    expect(rows.filter((d) => d.state === 'superseded')).toHaveLength(19);
  });

  it('does not deploy when auto-deploy is off', async () => {
    const toggle = (on: boolean, headers: Record<string, string>) =>
      fetch(`${t.server.url}/api/github/repos/${env.repo.id}`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ autoDeployEnabled: on }),
      });
    // Bob cannot switch Alice's repository off; Alice can.
    expect((await toggle(false, other.auth)).status).toBe(404);
    const off = await toggle(false, env.auth);
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ autoDeployEnabled: false });
    const push = await deliver(
      t.server.url,
      env.integration.id,
      'push',
      pushPayload('refs/heads/master'),
      {
        secret: env.secret,
      },
    );
    expect(await push.json()).toMatchObject({ outcome: 'ignored' });
    expect((await toggle(true, env.auth)).status).toBe(200);
  });

  it('keeps tokens and secrets sealed in PostgreSQL', async () => {
    const { rows } = await t.db.pool.query<{ a: Buffer; s: Buffer }>(
      'SELECT access_token_encrypted AS a, webhook_secret_encrypted AS s FROM github_integrations WHERE id = $1',
      [env.integration.id],
    );
    const dump = Buffer.concat([rows[0]!.a, rows[0]!.s]);
    expect(dump.includes(Buffer.from(env.token))).toBe(false);
    expect(dump.includes(Buffer.from(env.secret))).toBe(false);
  });
});
