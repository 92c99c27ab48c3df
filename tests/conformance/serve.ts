/**
 * Starts Vutler for the conformance run (Node 20, the project's runtime): a database of its own,
 * the real app on 127.0.0.1, one person with an agent token and a chat permission, and a tiny
 * proxy that adds the agent's bearer token (the suite cannot send one) and passes every other
 * header — Host and Origin included — through untouched. Prints the proxy's /mcp URL, then
 * waits for SIGTERM and drops its database.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { createApp } from '../../src/app.ts';
import { VutlerClient } from '../../src/client/index.ts';
import { loadConfig } from '../../src/config.ts';
import { generateGatewayKeys } from '../../src/crypto/grants.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log.ts';
import { createRedis } from '../../src/redis.ts';

const admin = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `vutler_conf_${randomBytes(5).toString('hex')}`;

async function adminQuery(sql: string) {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

await adminQuery(`CREATE DATABASE ${name}`);
const dbUrl = new URL(admin);
dbUrl.pathname = `/${name}`;
const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  DATABASE_URL: dbUrl.toString(),
  REDIS_URL: redisUrl,
  VUTLER_REDIS_PREFIX: `conf${randomBytes(4).toString('hex')}`,
  VUTLER_GATEWAY_KEY: (await generateGatewayKeys()).serialized,
});
const logger = createLogger('silent');
const pool = new pg.Pool({ connectionString: config.db.url, max: 5 });
await migrate(pool);
const redis = createRedis(redisUrl, { logger, name: 'conformance' });
const vutler = createApp({
  config,
  logger,
  pool,
  redis,
  secrets: { serverKey: new Uint8Array(randomBytes(32)) },
});
const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
  const s = serve({ fetch: vutler.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
});
await vutler.start(server);
const addr = server.address();
const port = typeof addr === 'object' && addr ? addr.port : 0;

const owner = new VutlerClient({
  baseUrl: `http://127.0.0.1:${port}`,
  kdfCost: { memoryKiB: 1024, iterations: 1, parallelism: 1 },
  allowWeakKdf: true,
});
await owner.registerWithEncryption({
  email: `conf-${randomBytes(4).toString('hex')}@example.com`,
  passphrase: 'conformance passphrase',
});
const { token } = await owner.createAgentToken({ agentName: 'conformance' });
await owner.agents.setPermission({
  agentName: 'conformance',
  resourceType: 'chat',
  accessLevel: 'decrypt_ephemeral',
});

const proxy = http.createServer((req, res) => {
  const upstream = http.request(
    {
      host: '127.0.0.1',
      port,
      path: req.url,
      method: req.method,
      headers: { ...req.headers, authorization: `Bearer ${token}` },
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyAddr = proxy.address();
process.stdout.write(
  `http://localhost:${typeof proxyAddr === 'object' && proxyAddr ? proxyAddr.port : 0}/mcp\n`,
);

const stop = async () => {
  proxy.close();
  await vutler.stop();
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
  await pool.end();
  redis.disconnect();
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
