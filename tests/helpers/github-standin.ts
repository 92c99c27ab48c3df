import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for GitHub: the REST v3 endpoints Vutler uses (user, repos, hooks,
 * deployments and their statuses, workflow dispatch) and the OAuth web flow (authorize, code
 * exchange), speaking GitHub's wire format so the real `octokit` can be pointed at it. Every
 * call is recorded; failures can be injected per route.
 */
export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

export interface StandInRepo {
  id: number;
  owner: string;
  name: string;
  permissions?: { admin: boolean; push: boolean; pull: boolean };
}

interface Deployment {
  id: number;
  repo: string;
  sha: string;
  ref: string;
  environment: string;
  payload: unknown;
  description: string | null;
  statuses: Array<{
    id: number;
    state: string;
    log_url?: string;
    environment_url?: string;
    description?: string;
  }>;
}

type Fault = { method: string; path: RegExp; kind: number | 'timeout' | 'hang'; times: number };

export interface GithubStandIn {
  url: string;
  apiUrl: string;
  calls: RecordedCall[];
  /** Tokens the API accepts, with the account they belong to. */
  tokens: Map<string, { id: number; login: string; scopes: string }>;
  repos: StandInRepo[];
  deployments: Deployment[];
  /** Issues an OAuth code the token endpoint exchanges for `token`. */
  addToken(token: string, user?: { id: number; login: string }): void;
  /** The next `times` calls matching answer `kind` (a status, or hang until the client gives up). */
  fail(method: string, path: RegExp, kind: number | 'timeout' | 'hang', times?: number): void;
  /** Drops the injected failures not used up yet. */
  clearFaults(): void;
  /** The states posted to one deployment, oldest first. */
  statusesOf(deploymentId: number): string[];
  oauth: { clientId: string; clientSecret: string; lastCode?: string; tokenForCode: string };
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startGithubStandIn(
  opts: { clientId?: string; clientSecret?: string } = {},
): Promise<GithubStandIn> {
  const calls: RecordedCall[] = [];
  const tokens = new Map<string, { id: number; login: string; scopes: string }>();
  const repos: StandInRepo[] = [];
  const deployments: Deployment[] = [];
  const faults: Fault[] = [];
  const codes = new Map<string, string>();
  const hooks: Array<{ id: number; repo: string; config: unknown }> = [];
  let nextId = 1000;
  const oauth = {
    clientId: opts.clientId ?? 'Iv1.standin',
    clientSecret: opts.clientSecret ?? randomBytes(12).toString('hex'),
    tokenForCode: `gho_${randomBytes(16).toString('hex')}`,
    lastCode: undefined as string | undefined,
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      if (req.headers['content-type']?.includes('x-www-form-urlencoded'))
        body = Object.fromEntries(new URLSearchParams(raw));
    }
    const call: RecordedCall = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: req.headers,
      body,
      status: 0,
    };
    calls.push(call);
    const send = (status: number, data?: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      res.writeHead(status, {
        ...(data === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
        ...headers,
      });
      res.end(data === undefined ? undefined : JSON.stringify(data));
    };
    const fault = faults.find((f) => f.method === call.method && f.path.test(call.path));
    if (fault) {
      fault.times -= 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      if (fault.kind === 'timeout' || fault.kind === 'hang') {
        call.status = -1;
        return; // never answers; the client's timeout ends it (the socket closes with the server)
      }
      return send(fault.kind, { message: 'Server Error' });
    }

    // OAuth web flow (on the web host, like github.com/login/oauth/...).
    if (call.method === 'GET' && call.path === '/login/oauth/authorize') {
      const redirect = u.searchParams.get('redirect_uri');
      const state = u.searchParams.get('state') ?? '';
      if (u.searchParams.get('client_id') !== oauth.clientId || !redirect)
        return send(400, { error: 'bad client' });
      const code = randomBytes(10).toString('hex');
      codes.set(code, oauth.tokenForCode);
      oauth.lastCode = code;
      const to = new URL(redirect);
      to.searchParams.set('code', code);
      to.searchParams.set('state', state);
      return send(302, undefined, { location: to.toString() });
    }
    if (call.method === 'POST' && call.path === '/login/oauth/access_token') {
      const b = (body ?? {}) as Record<string, string>;
      const token = codes.get(b.code ?? '');
      if (b.client_id !== oauth.clientId || b.client_secret !== oauth.clientSecret || !token)
        return send(200, {
          error: 'bad_verification_code',
          error_description: 'The code passed is incorrect or expired.',
        });
      codes.delete(b.code ?? '');
      if (!tokens.has(token))
        tokens.set(token, { id: 4242, login: 'octo-oauth', scopes: 'repo,workflow' });
      return send(200, { access_token: token, token_type: 'bearer', scope: 'repo,workflow' });
    }

    const api = call.path.startsWith('/api/v3/') ? call.path.slice('/api/v3'.length) : null;
    if (api === null) return send(404, { message: 'Not Found' });
    const auth = String(req.headers.authorization ?? '');
    const token = auth.replace(/^(token|bearer)\s+/i, '');
    const who = tokens.get(token);
    if (!who)
      return send(401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
      });
    const scopeHeader = { 'x-oauth-scopes': who.scopes };

    if (call.method === 'GET' && api === '/user')
      return send(200, { id: who.id, login: who.login, type: 'User' }, scopeHeader);
    if (call.method === 'GET' && api === '/user/repos')
      return send(
        200,
        repos.map((r) => ({
          id: r.id,
          name: r.name,
          full_name: `${r.owner}/${r.name}`,
          owner: { login: r.owner },
          private: true,
          default_branch: 'main',
          permissions: r.permissions ?? { admin: true, push: true, pull: true },
        })),
        scopeHeader,
      );
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(api);
    if (!m) return send(404, { message: 'Not Found' });
    const [, owner, name, rest = ''] = m;
    const repo = repos.find((r) => r.owner === owner && r.name === name);
    if (!repo) return send(404, { message: 'Not Found' });
    const full = `${owner}/${name}`;
    if (call.method === 'GET' && rest === '')
      return send(200, {
        id: repo.id,
        name: repo.name,
        full_name: full,
        owner: { login: repo.owner },
        default_branch: 'main',
        permissions: repo.permissions ?? { admin: true, push: true, pull: true },
      });
    if (call.method === 'POST' && rest === '/hooks') {
      if (repo.permissions && !repo.permissions.admin) return send(404, { message: 'Not Found' });
      const hook = { id: nextId++, repo: full, config: (body as { config?: unknown })?.config };
      hooks.push(hook);
      return send(201, {
        id: hook.id,
        type: 'Repository',
        active: true,
        events: (body as { events?: string[] }).events,
        config: { url: (hook.config as { url?: string })?.url, content_type: 'json' },
      });
    }
    if (rest === '/deployments') {
      if (call.method === 'POST') {
        const b = body as Record<string, unknown>;
        const d: Deployment = {
          id: nextId++,
          repo: full,
          sha: String(b.ref),
          ref: String(b.ref),
          environment: String(b.environment ?? 'production'),
          payload: b.payload ?? {},
          description: (b.description as string) ?? null,
          statuses: [],
        };
        deployments.push(d);
        return send(201, deploymentJson(d));
      }
      if (call.method === 'GET') {
        const list = deployments.filter(
          (d) =>
            d.repo === full &&
            (!u.searchParams.get('sha') || d.sha === u.searchParams.get('sha')) &&
            (!u.searchParams.get('environment') ||
              d.environment === u.searchParams.get('environment')),
        );
        return send(200, list.reverse().map(deploymentJson));
      }
    }
    const ds = /^\/deployments\/(\d+)\/statuses$/.exec(rest);
    if (ds) {
      const d = deployments.find((x) => x.id === Number(ds[1]) && x.repo === full);
      if (!d) return send(404, { message: 'Not Found' });
      if (call.method === 'POST') {
        const b = body as Record<string, string>;
        const s = {
          id: nextId++,
          state: b.state as string,
          log_url: b.log_url,
          environment_url: b.environment_url,
          description: b.description,
        };
        d.statuses.push(s);
        return send(201, { ...s, created_at: new Date().toISOString() });
      }
      return send(200, [...d.statuses].reverse());
    }
    const wf = /^\/actions\/workflows\/([^/]+)\/dispatches$/.exec(rest);
    if (wf && call.method === 'POST') return send(204);
    return send(404, { message: 'Not Found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiUrl: `${url}/api/v3`,
    calls,
    tokens,
    repos,
    deployments,
    oauth,
    addToken(token, user = { id: 77, login: 'octocat' }) {
      tokens.set(token, { ...user, scopes: 'repo, workflow, admin:repo_hook' });
    },
    fail(method, path, kind, times = 1) {
      faults.push({ method, path, kind, times });
    },
    clearFaults() {
      faults.length = 0;
    },
    statusesOf(id) {
      return deployments.find((d) => d.id === id)?.statuses.map((s) => s.state) ?? [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function deploymentJson(d: Deployment) {
  return {
    id: d.id,
    sha: d.sha,
    ref: d.ref,
    task: 'deploy',
    environment: d.environment,
    payload: d.payload,
    description: d.description,
    created_at: new Date().toISOString(),
  };
}
