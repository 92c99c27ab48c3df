import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Pool } from './db/pool.ts';
import { NotFoundError, PayloadTooLargeError } from './errors.ts';
import { healthRoutes } from './http/health.routes.ts';
import { onError, problemResponse } from './http/problem.ts';
import { requestIdAndLog } from './http/request-id.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  redis: Redis;
}

/** The HTTP application: every route is mounted here, one sub-app per resource. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use('*', requestIdAndLog(deps.logger));
  const limit = deps.config.http.bodyLimitBytes;
  app.use(
    '*',
    bodyLimit({
      maxSize: limit,
      onError: () => {
        throw new PayloadTooLargeError(limit);
      },
    }),
  );
  app.route('/', healthRoutes(deps));
  app.notFound((c) =>
    problemResponse(new NotFoundError(`No route for ${c.req.method} ${c.req.path}.`), c.req.path),
  );
  app.onError(onError(deps.logger));
  return app;
}
