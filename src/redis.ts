import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type { Redis };

/**
 * `blocking: true` is for BullMQ workers, which require `maxRetriesPerRequest: null`.
 * API-side clients fail a command after a couple of retries so a Redis outage becomes a clear
 * 503 rather than a hung request.
 */
export function createRedis(
  url: string,
  opts: { logger?: Logger; blocking?: boolean; name?: string } = {},
): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: opts.blocking ? null : 2,
    connectionName: opts.name ?? 'vutler',
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  let lastLogged = 0;
  client.on('error', (err) => {
    // ioredis emits on every reconnect attempt; one line every 10 s is enough.
    const now = Date.now();
    if (now - lastLogged > 10_000) {
      lastLogged = now;
      opts.logger?.warn({ err: { message: err.message } }, 'redis connection error');
    }
  });
  return client;
}

/** Closes a client politely (QUIT), or drops it if Redis no longer answers. */
export async function closeRedis(client: Redis): Promise<void> {
  await client.quit().catch(() => client.disconnect());
}
