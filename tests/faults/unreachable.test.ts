import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded.ts';
import { clusterEnv, VutlerProcess } from '../helpers/cluster.ts';
import { PrivatePostgres } from '../helpers/pg-server.ts';
import { PrivateRedis } from '../helpers/redis-server.ts';

/**
 * A node configured with a PostgreSQL and a Redis that are not there yet keeps running, says on
 * /ready which one is missing, and becomes ready on its own when they come up.
 */
describe('configured services unreachable at start', () => {
  let node: VutlerProcess | undefined;
  let pgServer: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;

  afterAll(async () => {
    await node?.kill();
    await redis?.stop();
    await pgServer?.destroy();
  });

  async function readiness(): Promise<{ status: number; failed: string[] }> {
    const res = await fetch(`${node?.url}/ready`);
    const body = (await res.json()) as { failed?: string[] };
    return { status: res.status, failed: body.failed ?? [] };
  }

  async function eventually(pred: () => Promise<boolean>, what: string, ms = 60_000) {
    const deadline = Date.now() + ms;
    while (!(await pred().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('answers /ready with what is missing, keeps running, and recovers', async () => {
    const pgPort = await freePort();
    const redisPort = await freePort();
    const env = clusterEnv(
      `postgres://postgres@127.0.0.1:${pgPort}/postgres`,
      `redis://127.0.0.1:${redisPort}`,
    );
    node = new VutlerProcess('serve', env, await freePort());
    await node.start('health');

    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.failed).toEqual(expect.arrayContaining(['postgres', 'redis']));

    redis = await PrivateRedis.start(redisPort);
    await eventually(
      async () => !(await readiness()).failed.includes('redis'),
      'redis reported back',
    );
    const half = await readiness();
    expect(half.status).toBe(503);
    expect(half.failed).toContain('postgres');

    pgServer = await PrivatePostgres.create(pgPort);
    await eventually(async () => (await readiness()).status === 200, 'ready after both came up');
    expect(node.child?.exitCode).toBeNull();
    // Migrations ran on their own: the API works.
    const res = await fetch(`${node.url}/api/auth/params?email=a%40example.com`);
    expect(res.status).toBe(200);
  });
});
