import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe(migrate.name, () => {
  const dbs: TestDatabase[] = [];
  afterEach(async () => {
    await Promise.all(dbs.splice(0).map((d) => d.drop()));
  });
  async function emptyDb() {
    const db = await createTestDatabase({ empty: true });
    dbs.push(db);
    return db;
  }

  it('applies every migration to an empty database, and a second run is a no-op', async () => {
    const db = await emptyDb();
    const files = await readMigrations();
    const first = await migrate(db.pool);
    expect(first.applied).toHaveLength(files.length);
    expect(first.applied[0]).toBe('0001_phase1_core');
    const second = await migrate(db.pool);
    expect(second).toEqual({ applied: [], alreadyApplied: files.length });
    const { rows } = await db.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(files.map((f) => f.version));
  });

  it('applies each file once when two runners race', async () => {
    const db = await emptyDb();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-mig-'));
    // A non-idempotent migration: applying it twice would fail or double the counter.
    await writeFile(
      path.join(dir, '0001_counter.sql'),
      'CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);',
    );
    await writeFile(
      path.join(dir, '0002_bump.sql'),
      'SELECT pg_sleep(0.2); UPDATE counter SET n = n + 1;',
    );
    const results = await Promise.all([
      migrate(db.pool, { dir }),
      migrate(db.pool, { dir }),
      migrate(db.pool, { dir }),
    ]);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 2]);
    const { rows } = await db.pool.query('SELECT n FROM counter');
    expect(rows).toEqual([{ n: 2 }]);
  });

  it('rolls back a failing migration entirely and reports which file failed', async () => {
    const db = await emptyDb();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-mig-'));
    await writeFile(path.join(dir, '0001_ok.sql'), 'CREATE TABLE ok (id int);');
    await writeFile(
      path.join(dir, '0002_broken.sql'),
      'CREATE TABLE half (id int); SELECT no_such_function();',
    );
    await expect(migrate(db.pool, { dir })).rejects.toThrow(/Migration 2_broken failed/);
    const { rows } = await db.pool.query(
      "SELECT table_name FROM information_schema.tables WHERE table_name IN ('ok', 'half')",
    );
    expect(rows).toEqual([{ table_name: 'ok' }]);
  });

  it('refuses to run when an applied migration was edited', async () => {
    const db = await emptyDb();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vutler-mig-'));
    await writeFile(path.join(dir, '0001_a.sql'), 'CREATE TABLE a (id int);');
    await migrate(db.pool, { dir });
    await writeFile(path.join(dir, '0001_a.sql'), 'CREATE TABLE a (id bigint);');
    await expect(migrate(db.pool, { dir })).rejects.toThrow(/changed after it was applied/);
  });
});
