import { Hono } from 'hono';
import { BadRequestError, MalformedJsonError, UnsupportedMediaTypeError } from '../errors.ts';
import type { GithubModule } from './github.module.ts';

const EVENT = /^[a-z_]{1,64}$/;
const DELIVERY = /^[A-Za-z0-9-]{1,100}$/;

/**
 * `POST /webhooks/github/:integrationId`: GitHub's deliveries. Signature first (404 unknown
 * integration, 401 bad signature, same work either way), then headers and JSON, then one
 * transaction that records, dedupes and queues. Answers 202 as soon as that committed.
 */
export function webhookRoutes(github: GithubModule) {
  const app = new Hono();
  app.post('/webhooks/github/:integrationId', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type))
      throw new UnsupportedMediaTypeError('application/json');
    const body = await c.req.text();
    const { webhooks } = await github.parts();
    const integration = await webhooks.verify(
      c.req.param('integrationId'),
      body,
      c.req.header('x-hub-signature-256'),
    );
    const event = c.req.header('x-github-event') ?? '';
    const delivery = c.req.header('x-github-delivery') ?? '';
    if (!EVENT.test(event) || !DELIVERY.test(delivery))
      throw new BadRequestError('X-GitHub-Event and X-GitHub-Delivery headers are required.');
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      throw new MalformedJsonError();
    }
    const result = await webhooks.receive(integration, event, delivery, payload);
    return c.json(
      { delivery, outcome: result.outcome, deployments: result.deployments.length },
      202,
    );
  });
  return app;
}
