import pg from 'pg';
import type { Logger } from 'pino';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

export function createPool(url: string, max: number, logger?: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'vutler',
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (err) => {
    // 57P01: the server is shutting down (e.g. the embedded one during our own shutdown).
    const level = (err as { code?: string }).code === '57P01' ? 'info' : 'error';
    logger?.[level]({ err: { message: err.message } }, 'postgres connection closed by server');
  });
  return pool;
}

/**
 * Runs `fn` in a transaction. Serialisation failures and deadlocks are retried a few times,
 * because the caller's work is all inside `fn` and so safe to replay.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (err as { code?: string }).code;
      if ((code === '40001' || code === '40P01') && attempt < attempts) continue;
      throw err;
    } finally {
      client.release();
    }
  }
}
