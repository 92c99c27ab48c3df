import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from 'pino';

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../migrations',
);

/** Any constant shared by every Vutler process; two migrators starting together serialise on it. */
const LOCK_KEY = 0x7675746c; // "vutl"

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  for (const entry of entries) {
    const m = FILE_PATTERN.exec(entry);
    if (!m) throw new Error(`Migration file name ${entry} must look like 0001_name.sql`);
    const sql = await readFile(path.join(dir, entry), 'utf8');
    const version = Number(m[1]);
    if (files.some((f) => f.version === version)) {
      throw new Error(`Two migration files share version ${version}`);
    }
    files.push({
      version,
      name: m[2] ?? entry,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  return files;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies pending forward-only migrations, each in its own transaction, under a session
 * advisory lock so concurrent starters apply every file exactly once. An applied file whose
 * text changed is an error: migrations are never edited, only added.
 */
export async function migrate(
  pool: pg.Pool,
  opts: { dir?: string; logger?: Logger } = {},
): Promise<MigrateResult> {
  const files = await readMigrations(opts.dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        checksum TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM schema_migrations',
      );
      const done = new Map(rows.map((r) => [r.version, r.checksum]));
      const applied: string[] = [];
      for (const file of files) {
        const previous = done.get(file.version);
        if (previous !== undefined) {
          if (previous !== file.checksum) {
            throw new Error(
              `Migration ${file.version}_${file.name} changed after it was applied; add a new migration instead`,
            );
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(file.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
            [file.version, file.name, file.checksum],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(
            `Migration ${file.version}_${file.name} failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        applied.push(`${String(file.version).padStart(4, '0')}_${file.name}`);
        opts.logger?.info({ migration: file.name, version: file.version }, 'migration applied');
      }
      return { applied, alreadyApplied: files.length - applied.length };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}
