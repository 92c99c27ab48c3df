import { Hono } from 'hono';
import { z } from 'zod';
import { type AuthEnv, requireSession } from '../auth/middleware.ts';
import type { SessionService } from '../auth/session.service.ts';
import { AppError, NotFoundError } from '../errors.ts';
import { uuid } from '../http/schemas.ts';
import { jsonBody, queryParams } from '../http/validate.ts';
import type { GithubModule } from './github.module.ts';

const name = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a GitHub owner or repository name');
const envName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, "_", "." or "-"');
const branch = z
  .string()
  .min(1)
  .max(255)
  .refine((b) => !b.startsWith('refs/') && !/[\s~^:?*[\\]|\.\.|@\{/.test(b), 'a branch name');
const httpsUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .refine((u) => !new URL(u).username && !new URL(u).password, 'no credentials in the URL');
const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a full 40-character commit SHA');

export const strategySchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('workflow_dispatch'),
      workflow: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, 'a workflow file name or id'),
      inputs: z.record(z.string().max(100), z.string().max(1000)).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('hook'),
      url: httpsUrl,
      timeoutMs: z.number().int().min(100).max(600_000).optional(),
    })
    .strict(),
]);

const tokenBody = z
  .object({
    token: z
      .string()
      .min(20)
      .max(400)
      .regex(/^[\x21-\x7e]+$/),
  })
  .strict();
const repoBody = z
  .object({
    integrationId: uuid,
    owner: name,
    name,
    branch,
    environment: envName.default('production'),
    strategy: strategySchema,
    requiredContexts: z.array(z.string().min(1).max(200)).max(50).nullable().optional(),
    environmentUrl: httpsUrl.nullable().optional(),
    notifyChatId: uuid.nullable().optional(),
    autoDeployEnabled: z.boolean().optional(),
  })
  .strict();
const patchBody = z
  .object({
    autoDeployEnabled: z.boolean().optional(),
    branch: branch.optional(),
    notifyChatId: uuid.nullable().optional(),
  })
  .strict();
const deployBody = z.object({ sha, ref: z.string().max(255).optional() }).strict();
const callbackQuery = z
  .object({ code: z.string().min(1).max(200), state: z.string().min(1).max(400) })
  .passthrough();

function idParam(v: string | undefined): string {
  const p = uuid.safeParse(v);
  if (!p.success) throw new NotFoundError();
  return p.data;
}

/** People's side of the GitHub connector: accounts, repositories, deploys, history. */
export function githubRoutes(sessions: SessionService, github: GithubModule) {
  const app = new Hono<AuthEnv>();
  const session = requireSession(sessions);
  const svc = async () => (await github.parts()).service;

  app.post('/github/integrations', session, async (c) => {
    const body = await jsonBody(c, tokenBody);
    return c.json(await (await svc()).connectToken(c.get('auth').userId, body.token), 201);
  });
  app.get('/github/integrations', session, async (c) =>
    c.json({ integrations: await (await svc()).integrations(c.get('auth').userId) }),
  );
  app.delete('/github/integrations/:id', session, async (c) => {
    await (await svc()).disconnect(c.get('auth').userId, idParam(c.req.param('id')));
    return c.body(null, 204);
  });
  app.post('/github/oauth/start', session, async (c) =>
    c.json((await svc()).oauthStart(c.get('auth').userId)),
  );
  app.get('/github/oauth/callback', session, async (c) => {
    // GitHub sends the person's browser here: a page navigation goes back to the GitHub page,
    // saying how it went; API clients get the integration as JSON.
    const page = (c.req.header('accept') ?? '').includes('text/html');
    try {
      const q = queryParams(c, callbackQuery);
      const made = await (await svc()).oauthCallback(c.get('auth').userId, q.code, q.state);
      if (page) return c.redirect('/#/github?connected=1', 303);
      return c.json(made, 201);
    } catch (err) {
      if (!page || !(err instanceof AppError) || err.status >= 500) throw err;
      return c.redirect(`/#/github?error=${encodeURIComponent(err.type)}`, 303);
    }
  });

  app.post('/github/repos', session, async (c) => {
    const body = await jsonBody(c, repoBody);
    return c.json(await (await svc()).connectRepo(c.get('auth').userId, body), 201);
  });
  app.get('/github/repos', session, async (c) =>
    c.json({ repos: await (await svc()).repos(c.get('auth').userId) }),
  );
  app.patch('/github/repos/:id', session, async (c) => {
    const id = idParam(c.req.param('id'));
    const body = await jsonBody(c, patchBody);
    return c.json(await (await svc()).updateRepo(c.get('auth').userId, id, body));
  });
  app.get('/github/repos/:id/deployments', session, async (c) => {
    const id = idParam(c.req.param('id'));
    const q = queryParams(
      c,
      z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict(),
    );
    return c.json({ deployments: await (await svc()).history(c.get('auth').userId, id, q.limit) });
  });
  app.post('/github/repos/:id/deployments', session, async (c) => {
    const id = idParam(c.req.param('id'));
    const body = await jsonBody(c, deployBody);
    return c.json(
      await (await svc()).requestDeploy(c.get('auth').userId, id, { ...body, trigger: 'manual' }),
      202,
    );
  });
  app.post('/github/repos/:id/rollback', session, async (c) =>
    c.json(await (await svc()).rollback(c.get('auth').userId, idParam(c.req.param('id'))), 202),
  );
  return app;
}
