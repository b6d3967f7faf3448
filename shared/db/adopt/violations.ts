/*
 * Rows of an adopted table that break a rule, counted, with a few of their ids for the report.
 * The id is the table's own primary key (the row's physical address if it has none).
 */
import type pg from 'pg';
import { quoteIdent as q } from './catalog.js';

export interface Violations {
  count: number;
  sample: string;
}

const SAMPLE_SIZE = 5;

export async function violations(client: pg.ClientBase, table: string, condition: string): Promise<Violations> {
  const key = await rowKey(client, table);
  const { rows } = await client.query<{ count: number; ids: string[] | null }>(
    `select count(*)::int as count, (array_agg(${key}::text order by ${key}::text))[1:${SAMPLE_SIZE}] as ids
     from ${q(table)} where ${condition}`,
  );
  return describe(rows[0]!);
}

/** Rows whose values of `columns` (all non-null, within `predicate`) occur more than once. */
export async function duplicates(
  client: pg.ClientBase,
  table: string,
  columns: string[],
  predicate: string | null,
): Promise<Violations> {
  const key = await rowKey(client, table);
  const list = columns.map(q).join(', ');
  const filled = columns.map((column) => `${q(column)} is not null`).join(' and ');
  const where = predicate ? `${filled} and (${predicate})` : filled;
  const { rows } = await client.query<{ count: number; ids: string[] | null }>(
    `with dup as (select ${list} from ${q(table)} where ${where} group by ${list} having count(*) > 1)
     select count(*)::int as count, (array_agg(t.${key}::text order by t.${key}::text))[1:${SAMPLE_SIZE}] as ids
     from ${q(table)} t join dup using (${list}) ${predicate ? `where ${predicate}` : ''}`,
  );
  return describe(rows[0]!);
}

function describe(row: { count: number; ids: string[] | null }): Violations {
  return { count: row.count, sample: (row.ids ?? []).join(', ') };
}

async function rowKey(client: pg.ClientBase, table: string): Promise<string> {
  const { rows } = await client.query<{ name: string }>(
    `select a.attname as name from pg_index x
     join pg_attribute a on a.attrelid = x.indrelid and a.attnum = x.indkey[0]
     where x.indrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) and x.indisprimary`,
    [table],
  );
  return rows[0] ? q(rows[0].name) : 'ctid';
}
