/*
 * The data-changing half of adoption: convert naive timestamps, add columns, align defaults and
 * NOT NULL, backfill the status anchors. Runs with the tables' own triggers switched off, so no
 * existing value (an origin updated_at, say) moves because adoption touched the row.
 */
import type pg from 'pg';
import type { Column } from './catalog.js';
import { quoteIdent as q } from './catalog.js';
import type { ColumnPlan } from './columns.js';
import { violations } from './violations.js';

export interface AdoptionLog {
  changes: string[];
  problems: string[];
}

export async function applyColumns(
  client: pg.ClientBase,
  plan: ColumnPlan,
  timeZone: string | undefined,
  log: AdoptionLog,
): Promise<void> {
  if (plan.convert.length > 0) await convertTimestamps(client, plan, timeZone!, log);
  for (const column of plan.add) {
    await client.query(`alter table ${q(column.table)} add column ${q(column.name)} ${columnDefinition(column)}`);
    log.changes.push(
      `added ${column.table}.${column.name} ${column.type}${column.default ? ` default ${column.default}` : ''}`,
    );
  }
}

function columnDefinition(column: Column): string {
  if (column.identity) return `${column.type} generated always as identity`;
  const fallback = column.default === null ? '' : ` default ${column.default}`;
  return `${column.type}${fallback}${column.notNull ? ' not null' : ''}`;
}

async function convertTimestamps(
  client: pg.ClientBase,
  plan: ColumnPlan,
  timeZone: string,
  log: AdoptionLog,
): Promise<void> {
  // Values with an explicit offset keep their instant; values without one are read in the zone
  // the operator named, which is what the session time zone does for the cast below. Words the
  // input parser also accepts ('now', 'epoch', 'infinity') are not recorded instants: refused.
  await client.query(`create or replace function pg_temp.devenv_parses_as_timestamptz(value text) returns boolean
    language plpgsql as $$ begin perform value::timestamptz; return value ~ '^ *[0-9]'; exception when others then return false; end $$`);
  const previous = (await client.query<{ tz: string }>('select current_setting($1) as tz', ['timezone'])).rows[0]!.tz;
  await client.query('select set_config($1, $2, true)', ['timezone', timeZone]);
  for (const { target, existing } of plan.convert) {
    const column = q(target.name);
    const bad = await violations(
      client,
      target.table,
      `${column} is not null and not pg_temp.devenv_parses_as_timestamptz(${column}::text)`,
    );
    if (bad.count > 0) {
      log.problems.push(
        `${target.table}.${target.name}: ${bad.count} rows hold text that is not a timestamp, e.g. ${bad.sample}`,
      );
      continue;
    }
    await client.query(`alter table ${q(target.table)} alter column ${column} drop default,
      alter column ${column} type ${target.type} using ${column}::timestamptz`);
    const dropped = existing.default === null ? '' : `; dropped its default ${existing.default}`;
    log.changes.push(
      `converted ${target.table}.${target.name} from ${existing.type} to ${target.type}, reading values without an offset as ${timeZone}${dropped}`,
    );
  }
  await client.query('select set_config($1, $2, true)', ['timezone', previous]);
}

/** Existing columns get 0001's defaults, and its NOT NULL once no row is null. */
export async function alignColumns(
  client: pg.ClientBase,
  reference: Column[],
  existing: Column[],
  log: AdoptionLog,
): Promise<void> {
  const byKey = new Map(existing.map((column) => [`${column.table}.${column.name}`, column]));
  for (const target of reference) {
    const found = byKey.get(`${target.table}.${target.name}`);
    if (!found || target.identity) continue;
    if (target.default !== found.default) await alignDefault(client, target, found, log);
    if (target.notNull && !found.notNull) await requireValues(client, target, log);
  }
}

/**
 * Defaults follow 0001, so rows other writers insert look like ours. One exception: a required
 * column keeps the origin's default, since the origin's writers may rely on it to insert at all.
 * Dropping matters for namespace: the origin's 'default' sent lookups to the wrong namespace
 * (A-23), while NULL means the configured one.
 */
async function alignDefault(client: pg.ClientBase, target: Column, found: Column, log: AdoptionLog): Promise<void> {
  const where = `${q(target.table)} alter column ${q(target.name)}`;
  if (target.default !== null) {
    await client.query(`alter table ${where} set default ${target.default}`);
    log.changes.push(
      `set default ${target.default} on ${target.table}.${target.name}${found.default ? ` (was ${found.default})` : ''}`,
    );
  } else if (!target.notNull) {
    await client.query(`alter table ${where} drop default`);
    log.changes.push(`dropped default ${found.default} on ${target.table}.${target.name} (0001 declares none)`);
  }
}

async function requireValues(client: pg.ClientBase, target: Column, log: AdoptionLog): Promise<void> {
  const table = q(target.table);
  const column = q(target.name);
  const nulls = await violations(client, target.table, `${column} is null`);
  if (nulls.count > 0 && target.default === null) {
    log.problems.push(
      `${target.table}.${target.name}: not null (0001) is violated by ${nulls.count} rows, e.g. ${nulls.sample}`,
    );
    return;
  }
  if (nulls.count > 0) {
    await client.query(`update ${table} set ${column} = default where ${column} is null`);
    log.changes.push(`filled ${nulls.count} null ${target.table}.${target.name} with ${target.default}`);
  }
  await client.query(`alter table ${table} alter column ${column} set not null`);
  log.changes.push(`set not null on ${target.table}.${target.name}`);
}

/**
 * Switches off the user triggers that fire now (enabled, or enabled ALWAYS); the returned function
 * switches them back on as they were. Disabling by name (not DISABLE TRIGGER USER) leaves a trigger
 * the origin had switched off (or set to fire on replicas only) as it was. Other sessions never
 * see them off: the ALTERs hold their locks until commit.
 */
export async function pauseTriggers(client: pg.ClientBase, tables: string[]): Promise<() => Promise<void>> {
  const { rows } = await client.query<{ table: string; name: string; always: boolean }>(
    `select c.relname as "table", t.tgname as name, t.tgenabled = 'A' as always from pg_trigger t join pg_class c on c.oid = t.tgrelid
     where c.relnamespace = (select oid from pg_namespace where nspname = current_schema()) and c.relname = any($1::text[])
       and not t.tgisinternal and t.tgenabled in ('O', 'A')`,
    [tables],
  );
  for (const row of rows) await client.query(`alter table ${q(row.table)} disable trigger ${q(row.name)}`);
  return async () => {
    for (const row of rows)
      await client.query(`alter table ${q(row.table)} enable ${row.always ? 'always ' : ''}trigger ${q(row.name)}`);
  };
}
