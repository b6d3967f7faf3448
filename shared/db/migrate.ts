/*
 * Forward-only migrator for numbered .sql files (NNNN_name.sql). Safe when several processes start
 * at once: all of them queue on one session advisory lock, and whoever comes second finds the work
 * done. An applied file whose text changed is refused: migrations are never edited once landed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { Fatal } from '../errors.js';
import type { AdoptOptions } from './adopt/index.js';
import { adoptOrigin, originTablesPresent } from './adopt/index.js';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

// Arbitrary but fixed: the key every devenv-lifecycle process uses to serialise migrations.
const MIGRATION_LOCK_KEY = 7_326_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
  /** What adopting an origin database changed; empty when there was nothing to adopt. */
  adopted: string[];
}

export interface MigrateOptions extends AdoptOptions {
  /** Take over origin tables that exist without a record of 0001 (see adopt.ts). */
  adoptExisting?: boolean;
  /** With adoptExisting: check and report what adopting would change, then roll it all back. */
  dryRun?: boolean;
}

export function loadMigrations(directory: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(directory)
    .filter((file) => file.endsWith('.sql'))
    .sort();
  return files.map((file) => {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new Fatal(`migration file name must look like 0001_name.sql: ${file}`);
    const sql = readFileSync(join(directory, file), 'utf8');
    return { version: Number(match[1]), name: file, sql, checksum: sha256(sql) };
  });
}

export async function migrate(
  pool: pg.Pool,
  migrations: Migration[] = loadMigrations(),
  options: MigrateOptions = {},
): Promise<MigrationReport> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const adopted = await adoptIfNeeded(client, migrations, options);
      if (options.dryRun) return { applied: [], alreadyApplied: await recordedCount(client), adopted };
      return { ...(await applyPending(client, migrations)), adopted };
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

const LEDGER_SQL = `create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now())`;

/**
 * Origin tables without a record of 0001 would make 0001 fail half-way ("relation already
 * exists"). Checked before anything is written, so a plain migrate refuses and changes nothing.
 */
async function adoptIfNeeded(
  client: pg.PoolClient,
  migrations: Migration[],
  options: MigrateOptions,
): Promise<string[]> {
  const origin = migrations.find((migration) => migration.version === 1);
  if (!origin || (await isRecorded(client, 1))) return [];
  const present = await originTablesPresent(client);
  if (present.length === 0) return [];
  if (!options.adoptExisting) {
    throw new Fatal(
      `the database already has origin tables (${present.join(', ')}) but no record of ${origin.name}; take a backup, then adopt them with: npm run migrate -- --adopt-existing (or devenv-lifecycle migrate --adopt-existing)`,
    );
  }
  await client.query('begin');
  try {
    const changes = await adoptOrigin(client, origin.sql, options);
    await client.query(LEDGER_SQL);
    await record(client, origin);
    await client.query(options.dryRun ? 'rollback' : 'commit');
    return changes;
  } catch (err) {
    await client.query('rollback');
    throw err;
  }
}

async function isRecorded(client: pg.PoolClient, version: number): Promise<boolean> {
  if (!(await hasLedger(client))) return false;
  const { rowCount } = await client.query('select 1 from schema_migrations where version = $1', [version]);
  return (rowCount ?? 0) > 0;
}

async function recordedCount(client: pg.PoolClient): Promise<number> {
  if (!(await hasLedger(client))) return 0;
  return (await client.query<{ n: number }>('select count(*)::int as n from schema_migrations')).rows[0]!.n;
}

/**
 * Whether our ledger exists. A schema_migrations table of another shape belongs to another
 * migration tool (the origin's, say): its version numbers are not ours, so trusting them could
 * skip 0001 on a database that never had it.
 */
async function hasLedger(client: pg.PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ columns: string[] | null }>(
    `select array_agg(column_name::text order by column_name) as columns from information_schema.columns
     where table_schema = current_schema() and table_name = 'schema_migrations'`,
  );
  const columns = rows[0]!.columns;
  if (columns === null) return false;
  if (!['version', 'name', 'checksum'].every((column) => columns.includes(column))) {
    throw new Fatal(
      `schema_migrations exists but is not devenv-lifecycle's (columns ${columns.join(', ')}; another migration tool's?): rename it, e.g. alter table schema_migrations rename to origin_schema_migrations, and run again`,
    );
  }
  return true;
}

async function applyPending(client: pg.PoolClient, migrations: Migration[]): Promise<Omit<MigrationReport, 'adopted'>> {
  await client.query(LEDGER_SQL);
  const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
    'select version, name, checksum from schema_migrations order by version',
  );
  const applied = new Map(rows.map((row) => [row.version, row]));
  verifyUnchanged(migrations, applied);
  const pending = migrations.filter((migration) => !applied.has(migration.version));
  for (const migration of pending) await applyOne(client, migration);
  return { applied: pending.map((migration) => migration.name), alreadyApplied: applied.size };
}

function verifyUnchanged(migrations: Migration[], applied: Map<number, { name: string; checksum: string }>): void {
  for (const migration of migrations) {
    const previous = applied.get(migration.version);
    if (previous && previous.checksum !== migration.checksum) {
      throw new Fatal(
        `migration ${migration.name} was edited after it was applied (as ${previous.name}); add a new migration instead`,
      );
    }
  }
}

async function applyOne(client: pg.PoolClient, migration: Migration): Promise<void> {
  await client.query('begin');
  try {
    await client.query(migration.sql);
    await record(client, migration);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw new Fatal(`migration ${migration.name} failed: ${(err as Error).message}`, { cause: err });
  }
}

async function record(client: pg.PoolClient, migration: Migration): Promise<void> {
  await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
    migration.version,
    migration.name,
    migration.checksum,
  ]);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
