import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../../helpers/app.ts';
import { gatewayKeyLine } from '../../helpers/gateway.ts';
import { consent, MemoryProvider } from '../../helpers/oauth.ts';
import { person } from '../../helpers/people.ts';

/** A throwaway CA and a server certificate for 127.0.0.1 it signed. */
function testPki() {
  const dir = mkdtempSync(path.join(tmpdir(), 'vutler-cimd-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Vutler test CA',
  );
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'srv.key',
    '-out',
    'srv.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  run(
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'srv.pem',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  return { caFile: path.join(dir, 'ca.pem'), key: read('srv.key'), cert: read('srv.pem') };
}

const key = await gatewayKeyLine();
const pki = testPki();
const REDIRECT = 'http://127.0.0.1:40999/callback';

describe('Client ID Metadata Documents', () => {
  const t = useTestServer({
    VUTLER_GATEWAY_KEY: key,
    VUTLER_OAUTH_CIMD_CA_FILE: pki.caFile,
    VUTLER_OAUTH_CIMD_ALLOW_PRIVATE: 'true',
  });
  let docs: Server;
  let base = '';
  let fetched = 0;
  beforeAll(async () => {
    docs = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
      fetched++;
      const self = `${base}${req.url}`;
      const body: Record<string, unknown> =
        req.url === '/client.json'
          ? { client_id: self, client_name: 'Metadata Client', redirect_uris: [REDIRECT] }
          : req.url === '/other-id.json'
            ? { client_id: `${base}/client.json`, redirect_uris: [REDIRECT] }
            : req.url === '/huge.json'
              ? { client_id: self, redirect_uris: [REDIRECT], pad: 'x'.repeat(100_000) }
              : req.url === '/bad-types.json'
                ? { client_id: self, redirect_uris: [42] }
                : {};
      res.writeHead(req.url === '/missing.json' ? 404 : 200, {
        'content-type': 'application/json',
      });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(docs.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    docs.closeAllConnections();
    await new Promise((r) => docs.close(r));
  });

  it('the SDK uses the document URL as client_id; the flow completes and a tool answers', async () => {
    const url = t.server.url;
    const alice = await person(url, 'alice');
    const provider = new MemoryProvider(REDIRECT, `${base}/client.json`);
    const mcpUrl = new URL('/mcp', url);
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await expect(new Client({ name: 'c', version: '1' }).connect(transport)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    const authUrl = provider.authorizationUrl as URL;
    expect(authUrl.searchParams.get('client_id')).toBe(`${base}/client.json`);
    const page = await fetch(authUrl, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe(`/#/consent${authUrl.search}`);
    // The consent page learns the client's name from the fetched document.
    const described = await alice.client.http.request<{ clientName: string }>(
      '/api/oauth/request',
      { body: { request: Object.fromEntries(authUrl.searchParams) } },
    );
    expect(described.clientName).toBe('Metadata Client');
    const res = await consent(
      url,
      alice.client.session?.token ?? '',
      Object.fromEntries(authUrl.searchParams),
      'cimd-agent',
    );
    const to = new URL(((await res.json()) as { redirectTo: string }).redirectTo);
    await transport.finishAuth(to.searchParams.get('code') ?? '');
    const mcp = new Client({ name: 'c', version: '1' });
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
    const who = await mcp.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(who.structuredContent)).toContain('cimd-agent');
    await mcp.close();
    const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM oauth_clients');
    expect(rows[0].n).toBe(0); // documents are fetched, not registered
  });

  it('refuses documents that are wrong, huge, misnamed, missing, or a redirect they do not list', async () => {
    const cases: [string, string, string?][] = [
      ['/other-id.json', 'invalid_client_metadata'],
      ['/huge.json', 'invalid_client_metadata'],
      ['/bad-types.json', 'invalid_redirect_uri'],
      ['/missing.json', 'invalid_client'],
      ['/client.json', 'invalid_request', 'http://127.0.0.1:40999/callbacK'],
    ];
    for (const [doc, error, redirect] of cases) {
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: `${base}${doc}`,
        redirect_uri: redirect ?? REDIRECT,
        code_challenge: 'A'.repeat(43),
        code_challenge_method: 'S256',
        resource: `${t.server.url}/mcp`,
      });
      const r = await fetch(`${t.server.url}/oauth/authorize?${q}`, { redirect: 'manual' });
      expect(r.status, doc).toBe(400);
      expect(r.headers.get('location')).toBeNull();
      expect(await r.text(), doc).toContain(error);
    }
    expect(fetched).toBeGreaterThan(0);
  });
});
