import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import { databaseUrl, TEST_PG_ADMIN_URL } from './env.ts';

/**
 * Migrates one template database per test run; each integration file then clones it
 * (CREATE DATABASE ... TEMPLATE), which is much faster than migrating per file.
 */
export default async function setup({
  provide,
}: {
  provide: (key: string, value: unknown) => void;
}) {
  const template = `vutler_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  await dropStale(admin);
  await admin.query(`CREATE DATABASE ${template}`);
  const pool = new pg.Pool({ connectionString: databaseUrl(template), max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  await admin.query(`ALTER DATABASE ${template} WITH ALLOW_CONNECTIONS false`);
  await admin.end();
  provide('templateDb', template);
  return async () => {
    const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await c.end();
  };
}

/** Databases left behind by runs that were killed, older than an hour. */
async function dropStale(admin: pg.Client): Promise<void> {
  const { rows } = await admin
    .query<{ datname: string }>(
      `SELECT d.datname FROM pg_database d
     WHERE (d.datname LIKE 'vutler_tpl_%' OR d.datname LIKE 'vutler_t_%')
       AND (pg_stat_file('base/' || d.oid || '/PG_VERSION')).modification < now() - interval '1 hour'`,
    )
    .catch(() => ({ rows: [] as { datname: string }[] }));
  for (const { datname } of rows) {
    await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}
