import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_REPO, useGithubServer } from '../../helpers/github.ts';
import { person } from '../../helpers/people.ts';

const CLIENT_SECRET = randomBytes(12).toString('hex');

describe('connecting GitHub', () => {
  const t = useGithubServer({
    GITHUB_CLIENT_ID: 'Iv1.standin',
    GITHUB_CLIENT_SECRET: CLIENT_SECRET,
    VUTLER_PUBLIC_URL: 'https://vutler.example.com',
  });
  const json = (token: string) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });

  it('runs the OAuth web flow: authorize → callback with state → code exchange; the state is single-use and bound to the user', async () => {
    t.standin.oauth.clientSecret = CLIENT_SECRET;
    const alice = await person(t.server.url, 'alice');
    const bob = await person(t.server.url, 'bob');
    const h = json(alice.client.session?.token ?? '');
    const start = await fetch(`${t.server.url}/api/github/oauth/start`, {
      method: 'POST',
      headers: h,
    });
    const { url } = (await start.json()) as { url: string };
    expect(url.startsWith(`${t.standin.url}/login/oauth/authorize?`)).toBe(true);
    const authorize = await fetch(url, { redirect: 'manual' });
    expect(authorize.status).toBe(302);
    const back = new URL(authorize.headers.get('location') ?? '');
    expect(back.origin + back.pathname).toBe(
      'https://vutler.example.com/api/github/oauth/callback',
    );
    const qs = back.search;
    // Bob cannot finish Alice's flow with her state.
    const stolen = await fetch(`${t.server.url}/api/github/oauth/callback${qs}`, {
      headers: json(bob.client.session?.token ?? ''),
    });
    expect(stolen.status).toBe(400);
    const done = await fetch(`${t.server.url}/api/github/oauth/callback${qs}`, { headers: h });
    expect(done.status).toBe(201);
    expect(await done.json()).toMatchObject({ kind: 'oauth', login: 'octo-oauth' });
    const exchange = t.standin.calls.find((c) => c.path === '/login/oauth/access_token');
    expect(exchange?.body).toMatchObject({
      client_id: 'Iv1.standin',
      code: back.searchParams.get('code'),
    });
    const again = await fetch(`${t.server.url}/api/github/oauth/callback${qs}`, { headers: h });
    expect(again.status).toBe(400);
    const tampered = await fetch(
      `${t.server.url}/api/github/oauth/callback?code=x&state=${encodeURIComponent(`${back.searchParams.get('state')}x`)}`,
      { headers: h },
    );
    expect(tampered.status).toBe(400);
  });

  it('sends a browser finishing the OAuth flow back to the GitHub page, saying how it went', async () => {
    t.standin.oauth.clientSecret = CLIENT_SECRET;
    const alice = await person(t.server.url, 'alice');
    const h = json(alice.client.session?.token ?? '');
    const start = await fetch(`${t.server.url}/api/github/oauth/start`, {
      method: 'POST',
      headers: h,
    });
    const { url } = (await start.json()) as { url: string };
    const authorize = await fetch(url, { redirect: 'manual' });
    const qs = new URL(authorize.headers.get('location') ?? '').search;
    const page = { ...h, accept: 'text/html,application/xhtml+xml' };
    const done = await fetch(`${t.server.url}/api/github/oauth/callback${qs}`, {
      headers: page,
      redirect: 'manual',
    });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/#/github?connected=1');
    const listed = await fetch(`${t.server.url}/api/github/integrations`, { headers: h });
    expect(((await listed.json()) as { integrations: unknown[] }).integrations).toHaveLength(1);
    // A used state goes back too, with the problem's type and nothing connected twice.
    const again = await fetch(`${t.server.url}/api/github/oauth/callback${qs}`, {
      headers: page,
      redirect: 'manual',
    });
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toMatch(/^\/#\/github\?error=[a-z-]+$/);
    const after = await fetch(`${t.server.url}/api/github/integrations`, { headers: h });
    expect(((await after.json()) as { integrations: unknown[] }).integrations).toHaveLength(1);
  });

  it('connects a pasted token, never returns it, creates the webhook, and refuses bad input', async () => {
    const alice = await person(t.server.url, 'alice');
    const h = json(alice.client.session?.token ?? '');
    const token = `ghp_${randomBytes(18).toString('hex')}`;
    const bad = await fetch(`${t.server.url}/api/github/integrations`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ token: 'ghp_not_known_to_github_at_all' }),
    });
    expect(bad.status).toBe(400);
    t.standin.addToken(token, { id: 91, login: 'octocat' });
    if (!t.standin.repos.some((r) => r.id === EXAMPLE_REPO.id))
      t.standin.repos.push({ ...EXAMPLE_REPO });
    const res = await fetch(`${t.server.url}/api/github/integrations`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ token }),
    });
    expect(res.status).toBe(201);
    const integ = (await res.json()) as { id: string; webhookUrl: string; webhookSecret: string };
    expect(JSON.stringify(integ)).not.toContain(token);
    expect(integ.webhookUrl).toBe(`https://vutler.example.com/webhooks/github/${integ.id}`);
    const listed = await fetch(`${t.server.url}/api/github/integrations`, { headers: h });
    const listText = await listed.text();
    expect(listText).not.toContain(token);
    expect(listText).not.toContain(integ.webhookSecret);

    const repoBody = {
      integrationId: integ.id,
      owner: EXAMPLE_REPO.owner,
      name: EXAMPLE_REPO.name,
      branch: 'main',
      strategy: { type: 'workflow_dispatch', workflow: 'deploy.yml' },
    };
    const repo = await fetch(`${t.server.url}/api/github/repos`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify(repoBody),
    });
    expect(repo.status).toBe(201);
    expect(await repo.json()).toMatchObject({ webhookCreated: true, environment: 'production' });
    const hookCall = t.standin.calls.find((c) => c.method === 'POST' && c.path.endsWith('/hooks'));
    expect(hookCall?.body).toMatchObject({
      events: ['push', 'workflow_run'],
      config: { url: integ.webhookUrl, content_type: 'json', secret: integ.webhookSecret },
    });
    const dup = await fetch(`${t.server.url}/api/github/repos`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify(repoBody),
    });
    expect(dup.status).toBe(409);
    for (const body of [
      { ...repoBody, branch: 'refs/heads/x' },
      { ...repoBody, strategy: { type: 'hook', url: 'ftp://x' } },
      { ...repoBody, strategy: { type: 'shell', cmd: 'rm -rf /' } },
      { ...repoBody, owner: '../etc' },
    ]) {
      const r = await fetch(`${t.server.url}/api/github/repos`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify(body),
      });
      expect(r.status).toBe(422);
    }
    const missing = await fetch(`${t.server.url}/api/github/repos`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ ...repoBody, name: 'nope' }),
    });
    expect(missing.status).toBe(404);
  });
});
