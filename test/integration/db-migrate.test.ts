import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fatal } from '../../shared/errors.js';
import { MIGRATIONS_DIR, loadMigrations, migrate } from '../../shared/db/migrate.js';
import { runNode } from '../support/cli.js';
import { useEmptyDatabase } from '../support/database.js';

async function schemaFingerprint(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ f: string }>(`
    select md5(string_agg(table_name || '.' || column_name || ':' || data_type || ':' || coalesce(column_default, ''), ',' order by table_name, column_name)) as f
    from information_schema.columns where table_schema = 'public'`);
  return rows[0]!.f;
}

describe('migrate on one connection', () => {
  const target = useEmptyDatabase();
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: target.url, max: 2 });
  });
  afterAll(() => pool.end());

  it('applies every migration once, and a second run is a no-op', async () => {
    const first = await migrate(pool);
    expect(first.applied).toEqual(loadMigrations().map((m) => m.name));
    const before = await schemaFingerprint(pool);
    const second = await migrate(pool);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toBe(first.applied.length);
    expect(await schemaFingerprint(pool)).toBe(before);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    const [firstFile] = loadMigrations(dir);
    writeFileSync(join(dir, firstFile!.name), `${firstFile!.sql}\n-- edited`);
    await expect(migrate(pool, loadMigrations(dir))).rejects.toThrow(Fatal);
    await expect(migrate(pool, loadMigrations(dir))).rejects.toThrow(/was edited after it was applied/);
  });

  it('rolls a failing migration back completely and records nothing', async () => {
    const broken = {
      version: 9999,
      name: '9999_broken.sql',
      checksum: 'x',
      sql: 'create table half_done (id int); select 1/0;',
    };
    await expect(migrate(pool, [...loadMigrations(), broken])).rejects.toThrow(/9999_broken.sql failed/);
    const { rows } = await pool.query(
      `select to_regclass('half_done') as t, (select count(*) from schema_migrations where version = 9999) as n`,
    );
    expect(rows[0]).toEqual({ t: null, n: '0' });
  });
});

describe('migrate from several processes at once', () => {
  const target = useEmptyDatabase();

  it('lets 6 processes migrate the same empty database: all succeed, one schema', async () => {
    const processes = Array.from({ length: 6 }, () =>
      runNode(['--import', 'tsx', 'local/migrate.ts'], { env: { DATABASE_URL: target.url } }),
    );
    const outputs = await Promise.all(processes);
    expect(outputs.map((output) => [output.code, output.stderr])).toEqual(Array(6).fill([0, '']));
    const appliers = outputs.filter((output) => !output.stdout.includes('nothing (schema is up to date)'));
    expect(appliers).toHaveLength(1);
    const pool = new pg.Pool({ connectionString: target.url, max: 1 });
    try {
      const { rows } = await pool.query<{ version: number }>('select version from schema_migrations order by version');
      expect(rows.map((row) => row.version)).toEqual(loadMigrations().map((m) => m.version));
    } finally {
      await pool.end();
    }
  }, 90_000);
});
