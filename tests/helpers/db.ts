import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrl, TEST_PG_ADMIN_URL } from './env.ts';

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop: () => Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh database for one test file: migrated (from the run's template) or empty. */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `vutler_t_${randomBytes(6).toString('hex')}`;
  const template = opts.empty ? 'template0' : inject('templateDb');
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  // DROP ... WITH (FORCE) at the end may race a connection that is still closing; its FATAL
  // 57P01 is expected then, not a test failure.
  pool.on('error', (err) => {
    if ((err as { code?: string }).code !== '57P01') throw err;
  });
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
