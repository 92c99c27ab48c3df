import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine } from '../../helpers/gateway.ts';
import { consent, FORM, token } from '../../helpers/oauth.ts';
import { person } from '../../helpers/people.ts';

const key = await gatewayKeyLine();
const REDIRECT = 'http://127.0.0.1:40123/cb';

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function count(t: ReturnType<typeof useTestServer>, table: string): Promise<number> {
  const { rows } = await t.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]?.n);
}

/** tools/list on /mcp; `host` overrides the Host header (fetch would not let us). */
function mcpStatus(url: string, accessToken: string, host?: string): Promise<number> {
  const u = new URL('/mcp', url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      u,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${accessToken}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          host: host ?? u.host,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
  });
}

describe('the authorization server refuses what it must', () => {
  const t = useTestServer({ VUTLER_GATEWAY_KEY: key });

  async function register(body: unknown = { client_name: 'Tool', redirect_uris: [REDIRECT] }) {
    const res = await fetch(`${t.server.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** A registered client, a consent, and the code it produced. */
  async function authorized(agentName = 'agent') {
    const url = t.server.url;
    const alice = await person(url, 'alice');
    const reg = await register();
    const clientId = String(reg.json.client_id);
    const p = pkce();
    const request = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: p.challenge,
      code_challenge_method: 'S256',
      state: 'st-1',
      resource: `${url}/mcp`,
    };
    const res = await consent(url, alice.client.session?.token ?? '', request, agentName);
    expect(res.status).toBe(200);
    const to = new URL(((await res.json()) as { redirectTo: string }).redirectTo);
    return { alice, clientId, p, request, code: to.searchParams.get('code') ?? '', to };
  }

  async function tokens(a: Awaited<ReturnType<typeof authorized>>) {
    const res = await token(t.server.url, {
      grant_type: 'authorization_code',
      code: a.code,
      code_verifier: a.p.verifier,
      client_id: a.clientId,
      redirect_uri: REDIRECT,
      resource: `${t.server.url}/mcp`,
    });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      access_token: string;
      refresh_token: string;
      expires_in: number;
    };
  }

  it('publishes RFC 9728 and RFC 8414 metadata, and /mcp 401s point to it', async () => {
    const url = t.server.url;
    const pr = await (await fetch(`${url}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(pr).toMatchObject({ resource: `${url}/mcp`, authorization_servers: [url] });
    const as = await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json();
    expect(as).toMatchObject({
      issuer: url,
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
    });
    const res = await fetch(`${url}/mcp`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('resource_metadata=');
  });

  it('states the redirect, echoes state, binds the code to the resource', async () => {
    const a = await authorized();
    expect(a.to.origin + a.to.pathname).toBe(REDIRECT);
    expect(a.to.searchParams.get('state')).toBe('st-1');
    expect(a.to.searchParams.get('iss')).toBe(t.server.url);
    const tk = await tokens(a);
    expect(tk.access_token).toMatch(/^vto_/);
    expect(await mcpStatus(t.server.url, tk.access_token)).toBe(200);
    // Stored hashed only.
    const { rows } = await t.db.pool.query<{ h: Buffer }>(
      'SELECT token_hash AS h FROM oauth_tokens',
    );
    const dump = JSON.stringify(rows.map((r) => r.h.toString('base64url')));
    expect(dump).not.toContain(tk.access_token.slice(4));
    expect(dump).not.toContain(tk.refresh_token.slice(4));
  });

  it('refuses missing and wrong PKCE', async () => {
    const a = await authorized();
    const base = {
      grant_type: 'authorization_code',
      code: a.code,
      client_id: a.clientId,
      redirect_uri: REDIRECT,
    };
    const missing = await token(t.server.url, base);
    expect(missing.status).toBe(400);
    expect((await missing.json()).error).toBe('invalid_request');
    const wrong = await token(t.server.url, { ...base, code_verifier: pkce().verifier });
    expect(wrong.status).toBe(400);
    expect((await wrong.json()).error).toBe('invalid_grant');
    // /authorize without S256 is sent back to the (registered) redirect with the error.
    const q = new URLSearchParams({ ...a.request, code_challenge_method: 'plain' });
    const plain = await fetch(`${t.server.url}/oauth/authorize?${q}`, { redirect: 'manual' });
    expect(plain.status).toBe(302);
    const loc = new URL(plain.headers.get('location') ?? '');
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('state')).toBe('st-1');
  });

  it('refuses a redirect URI one character off, without redirecting; loopback ports may vary', async () => {
    const a = await authorized();
    const off = new URLSearchParams({ ...a.request, redirect_uri: `${REDIRECT}x` });
    const res = await fetch(`${t.server.url}/oauth/authorize?${off}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('invalid_request');
    const port = new URLSearchParams({ ...a.request, redirect_uri: 'http://127.0.0.1:5999/cb' });
    const ok = await fetch(`${t.server.url}/oauth/authorize?${port}`, { redirect: 'manual' });
    // Accepted: on to the web app's consent route with the same query.
    expect(ok.status).toBe(302);
    expect(ok.headers.get('location')).toBe(`/#/consent?${port}`);
    // The token request must name the same redirect as the authorization.
    const tk = await token(t.server.url, {
      grant_type: 'authorization_code',
      code: a.code,
      code_verifier: a.p.verifier,
      client_id: a.clientId,
      redirect_uri: 'http://127.0.0.1:40123/cc',
    });
    expect((await tk.json()).error).toBe('invalid_grant');
    // A consent whose request was tampered with is checked again and refused.
    const tampered = await consent(t.server.url, a.alice.client.session?.token ?? '', {
      ...a.request,
      redirect_uri: 'https://attacker.example/cb',
    });
    expect(tampered.status).toBe(400);
  });

  it('refuses tokens for another resource and a token used anywhere but /mcp here', async () => {
    const a = await authorized();
    const q = new URLSearchParams({ ...a.request, resource: 'https://other.example/mcp' });
    const res = await fetch(`${t.server.url}/oauth/authorize?${q}`, { redirect: 'manual' });
    expect(new URL(res.headers.get('location') ?? '').searchParams.get('error')).toBe(
      'invalid_target',
    );
    const missing = new URLSearchParams({ ...a.request });
    missing.delete('resource');
    const m = await fetch(`${t.server.url}/oauth/authorize?${missing}`, { redirect: 'manual' });
    expect(new URL(m.headers.get('location') ?? '').searchParams.get('error')).toBe(
      'invalid_target',
    );
    const tk = await token(t.server.url, {
      grant_type: 'authorization_code',
      code: a.code,
      code_verifier: a.p.verifier,
      client_id: a.clientId,
      resource: 'https://other.example/mcp',
    });
    expect((await tk.json()).error).toBe('invalid_target');

    const b = await tokens(await authorized());
    const port = new URL(t.server.url).port;
    // The same server reached as another resource (localhost instead of 127.0.0.1).
    expect(await mcpStatus(t.server.url, b.access_token, `localhost:${port}`)).toBe(401);
    const api = await fetch(`${t.server.url}/api/me`, {
      headers: { authorization: `Bearer ${b.access_token}` },
    });
    expect(api.status).toBe(401);
  });

  it('refuses an expired access token', async () => {
    const tk = await tokens(await authorized());
    expect(await mcpStatus(t.server.url, tk.access_token)).toBe(200);
    await t.db.pool.query(
      "UPDATE oauth_tokens SET expires_at = NOW() - INTERVAL '1 second' WHERE kind = 'access'",
    );
    expect(await mcpStatus(t.server.url, tk.access_token)).toBe(401);
  });

  it('rotates refresh tokens; a reused one revokes the whole grant', async () => {
    const a = await authorized();
    const first = await tokens(a);
    const res = await token(t.server.url, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
      client_id: a.clientId,
    });
    expect(res.status).toBe(200);
    const second = (await res.json()) as { access_token: string; refresh_token: string };
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(await mcpStatus(t.server.url, second.access_token)).toBe(200);

    const reused = await token(t.server.url, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
      client_id: a.clientId,
    });
    expect(reused.status).toBe(400);
    expect((await reused.json()).error).toBe('invalid_grant');
    expect(await mcpStatus(t.server.url, second.access_token)).toBe(401);
    const after = await token(t.server.url, {
      grant_type: 'refresh_token',
      refresh_token: second.refresh_token,
      client_id: a.clientId,
    });
    expect((await after.json()).error).toBe('invalid_grant');
    expect(await a.alice.client.connectedClients.list()).toEqual([]);
  });

  it('a replayed code is refused and revokes what the first redemption got', async () => {
    const a = await authorized();
    const tk = await tokens(a);
    const again = await token(t.server.url, {
      grant_type: 'authorization_code',
      code: a.code,
      code_verifier: a.p.verifier,
      client_id: a.clientId,
    });
    expect((await again.json()).error).toBe('invalid_grant');
    expect(await mcpStatus(t.server.url, tk.access_token)).toBe(401);
  });

  it('revokes by RFC 7009', async () => {
    const a = await authorized();
    const tk = await tokens(a);
    const res = await fetch(`${t.server.url}/oauth/revoke`, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ token: tk.refresh_token, client_id: a.clientId }),
    });
    expect(res.status).toBe(200);
    expect(await mcpStatus(t.server.url, tk.access_token)).toBe(401);
    const unknown = await fetch(`${t.server.url}/oauth/revoke`, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ token: 'nonsense' }),
    });
    expect(unknown.status).toBe(200);
  });

  it('bad client metadata and bad token requests get OAuth errors, never a 500, nothing stored', async () => {
    const before = await count(t, 'oauth_clients');
    const cases: [unknown, string][] = [
      [{ redirect_uris: 'http://127.0.0.1/cb' }, 'invalid_redirect_uri'],
      [{ redirect_uris: [] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['http://evil.example/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://ok.example/cb#frag'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: [REDIRECT], client_name: 42 }, 'invalid_client_metadata'],
      [
        { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' },
        'invalid_client_metadata',
      ],
      [{ redirect_uris: [REDIRECT], client_name: 'x'.repeat(20_000) }, 'invalid_client_metadata'],
      ['{not json', 'invalid_client_metadata'],
      ['[]', 'invalid_client_metadata'],
      ['null', 'invalid_client_metadata'],
    ];
    for (const [body, error] of cases) {
      const r = await register(body);
      expect([r.status, r.json.error], JSON.stringify(body).slice(0, 80)).toEqual([400, error]);
    }
    expect(await count(t, 'oauth_clients')).toBe(before);

    const grants = await count(t, 'oauth_grants');
    const bad: Record<string, string>[] = [
      {},
      { grant_type: 'password', username: 'a', password: 'b' },
      { grant_type: 'authorization_code', code: 'vtc_x', code_verifier: 'x', client_id: 'c' },
      { grant_type: 'refresh_token', refresh_token: 'x'.repeat(5000) },
      {
        grant_type: 'authorization_code',
        code: `vtc_${'A'.repeat(43)}`,
        code_verifier: pkce().verifier,
        client_id: 'c',
      },
    ];
    for (const params of bad) {
      const r = await token(t.server.url, params);
      expect(r.status).toBe(400);
      expect(['invalid_request', 'invalid_grant', 'unsupported_grant_type']).toContain(
        (await r.json()).error,
      );
    }
    const json = await fetch(`${t.server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":"authorization_code"}',
    });
    expect(json.status).toBe(400);
    const dup = await fetch(`${t.server.url}/oauth/token`, {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=refresh_token&grant_type=authorization_code',
    });
    expect((await dup.json()).error).toBe('invalid_request');

    // Unknown client, and a metadata URL on a private address (not allowed by default).
    for (const clientId of [
      'vcl_nope',
      'https://127.0.0.1:9/client.json',
      'https://10.0.0.1/c.json',
    ]) {
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        resource: `${t.server.url}/mcp`,
      });
      const r = await fetch(`${t.server.url}/oauth/authorize?${q}`, { redirect: 'manual' });
      expect(r.status).toBe(400);
      expect(r.headers.get('location')).toBeNull();
      expect(await r.text()).toContain('invalid_client');
    }
    const hostile = await fetch(`${t.server.url}/oauth/authorize?client_id=%3Cscript%3E&x=1&x=2`);
    expect(hostile.status).toBe(400);
    expect(await hostile.text()).not.toContain('<script>');
    // The error page runs no script at all: its policy allows none.
    expect(hostile.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    expect(hostile.headers.get('content-security-policy')).not.toContain('script-src');
    expect(await count(t, 'oauth_grants')).toBe(grants);
  });
});
