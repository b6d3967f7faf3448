/*
 * Adopting a database that the origin systems created: their tables exist, full of live rows, but
 * no migration is recorded. The target shape is taken from 0001 itself, run in a scratch schema
 * inside the caller's transaction, and compared with what exists. Anything that cannot be adopted
 * as it is (a required column missing, an incompatible type, rows that break a constraint 0001
 * declares) is collected into one report and nothing is changed; otherwise the missing pieces are
 * added and every existing row and value is kept. The caller records 0001 and commits.
 */
import type pg from 'pg';
import { Fatal, Invalid } from '../../errors.js';
import type { Catalog } from './catalog.js';
import { ORIGIN_TABLES, quoteIdent as q, readCatalog } from './catalog.js';
import type { AdoptionLog } from './columns-apply.js';
import { alignColumns, applyColumns, pauseTriggers } from './columns-apply.js';
import type { ColumnPlan } from './columns.js';
import { planColumns } from './columns.js';
import { addConstraints, addIndexes, addTriggers } from './objects.js';

export interface AdoptOptions {
  /** The zone naive origin timestamps were written in; without it they are refused, not guessed. */
  assumeTimeZone?: string;
}

export class AdoptionRefused extends Fatal {
  constructor(readonly problems: string[]) {
    super(
      `cannot adopt the existing origin tables (nothing was changed): ${problems.length} problem(s): ${problems.join('; ')}`,
    );
  }
}

const SCRATCH_SCHEMA = 'devenv_adopt_reference';

/** The origin tables present in the current schema. */
export async function originTablesPresent(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select c.relname as name from pg_class c
     where c.relnamespace = (select oid from pg_namespace where nspname = current_schema()) and c.relname = any($1::text[]) and c.relkind in ('r', 'p')
     order by array_position($1::text[], c.relname::text)`,
    [ORIGIN_TABLES],
  );
  return rows.map((row) => row.name);
}

/** Runs inside the caller's transaction and under its migration lock; returns what it changed. */
export async function adoptOrigin(
  client: pg.ClientBase,
  originMigrationSql: string,
  options: AdoptOptions,
): Promise<string[]> {
  if (options.assumeTimeZone !== undefined) await verifyTimeZone(client, options.assumeTimeZone);
  const schema = (await client.query<{ schema: string }>('select current_schema() as schema')).rows[0]!.schema;
  const reference = await buildReference(client, originMigrationSql);
  const log: AdoptionLog = { changes: [], problems: [] };
  await createMissingTables(client, reference, await readCatalog(client, schema), log);
  const before = await readCatalog(client, schema);
  const plan = planColumns(reference.columns, before.columns, options.assumeTimeZone);
  refuseIfAny(plan.problems);
  const resumeTriggers = await pauseTriggers(client, ORIGIN_TABLES);
  await applyColumns(client, plan, options.assumeTimeZone, log);
  refuseIfAny(log.problems);
  await alignColumns(client, reference.columns, (await readCatalog(client, schema)).columns, log);
  await backfillAnchors(client, plan, log);
  await resumeTriggers();
  const after = await readCatalog(client, schema);
  await addConstraints(client, reference, after, log);
  await addIndexes(client, reference, after, log);
  await addTriggers(client, reference, after, log);
  refuseIfAny(log.problems);
  await client.query(`drop schema ${q(SCRATCH_SCHEMA)} cascade`);
  return log.changes;
}

async function verifyTimeZone(client: pg.ClientBase, zone: string): Promise<void> {
  const { rows } = await client.query<{ known: boolean }>(
    'select exists (select 1 from pg_timezone_names where name = $1) as known',
    [zone],
  );
  if (!rows[0]!.known)
    throw new Invalid(`--assume-time-zone: unknown time zone ${zone} (use a name such as UTC or Europe/Berlin)`, [
      { field: '--assume-time-zone', message: 'unknown time zone' },
    ]);
}

/** 0001 run in a scratch schema: the catalog of exactly what the migration would have created. */
async function buildReference(client: pg.ClientBase, originMigrationSql: string): Promise<Catalog> {
  const { rows } = await client.query<{ path: string }>('select current_setting($1) as path', ['search_path']);
  await client.query(`create schema ${q(SCRATCH_SCHEMA)}`);
  await client.query('select set_config($1, $2, true)', ['search_path', SCRATCH_SCHEMA]);
  await client.query(originMigrationSql);
  await client.query('select set_config($1, $2, true)', ['search_path', rows[0]!.path]);
  return readCatalog(client, SCRATCH_SCHEMA);
}

/** A team that ran only one origin system has only its tables; the others are created empty. */
async function createMissingTables(
  client: pg.ClientBase,
  reference: Catalog,
  target: Catalog,
  log: AdoptionLog,
): Promise<void> {
  for (const table of ORIGIN_TABLES.filter((name) => !target.tables.has(name))) {
    await client.query(`create table ${q(table)} (like ${q(SCRATCH_SCHEMA)}.${q(table)}
      including defaults including constraints including identity including generated)`);
    log.changes.push(`created table ${table} (it did not exist)`);
  }
}

/**
 * The status anchors 0001 adds, for rows that existed before them. Each takes the best recorded
 * time of entering the current status, and where that is unknown the latest plausible one
 * (updated_at), so an age-based rule (stuck preparing, stale queue, ENDING watchdog) can only act
 * later than the origin would have, never earlier. Never later than now.
 */
async function backfillAnchors(client: pg.ClientBase, plan: ColumnPlan, log: AdoptionLog): Promise<void> {
  const added = new Set(plan.add.map((column) => `${column.table}.${column.name}`));
  if (added.has('reservations.status_changed_at')) {
    const { rowCount } = await client.query(`update reservations set status_changed_at = least(now(), case status
      when 'expired' then coalesce(reservation_ended, updated_at, created_at)
      when 'failed' then coalesce(failed_at, reservation_ended, updated_at, created_at)
      when 'cancelled' then coalesce(cancelled_at, reservation_ended, updated_at, created_at)
      when 'active' then coalesce(launched_at, updated_at, created_at)
      else coalesce(updated_at, created_at) end)`);
    log.changes.push(`backfilled reservations.status_changed_at on ${rowCount ?? 0} rows`);
  }
  if (added.has('labs.status_changed_at')) {
    const { rowCount } = await client.query(`update labs set status_changed_at = least(now(), case
      when status in ('finished', 'failed') then coalesce(finished_at, updated_at, created_at)
      else coalesce(updated_at, created_at) end)`);
    log.changes.push(`backfilled labs.status_changed_at on ${rowCount ?? 0} rows`);
  }
  if (added.has('labs.ending_since')) {
    const { rowCount } = await client.query(`update labs set ending_since = status_changed_at where status = 'ending'`);
    log.changes.push(`backfilled labs.ending_since on ${rowCount ?? 0} labs in ENDING`);
  }
}

function refuseIfAny(problems: string[]): void {
  if (problems.length > 0) throw new AdoptionRefused(problems);
}
