/*
 * What one schema holds for the origin tables, read from pg_catalog. Adoption reads it twice: for
 * the database being adopted, and for a scratch schema where 0001 was just run, so the target
 * shape always comes from the migration file itself and cannot drift from it.
 */
import type pg from 'pg';

export const ORIGIN_TABLES = ['reservations', 'disks', 'labs', 'port_reservations'];

export interface Column {
  table: string;
  name: string;
  type: string;
  baseType: string;
  notNull: boolean;
  default: string | null;
  identity: boolean;
}

export interface Constraint {
  table: string;
  name: string;
  kind: 'p' | 'u' | 'c' | 'f';
  definition: string;
  checkExpression: string | null;
  columns: string[];
  refTable: string | null;
  refColumns: string[];
}

export interface Index {
  table: string;
  name: string;
  definition: string;
  unique: boolean;
  backsConstraint: boolean;
  columns: string[];
  predicate: string | null;
}

interface Trigger {
  table: string;
  name: string;
  definition: string;
  functionName: string;
}

interface TriggerFunction {
  name: string;
  result: string;
  language: string;
  source: string;
}

export interface Catalog {
  schema: string;
  tables: Set<string>;
  columns: Column[];
  constraints: Constraint[];
  indexes: Index[];
  triggers: Trigger[];
  functions: TriggerFunction[];
}

export async function readCatalog(client: pg.ClientBase, schema: string): Promise<Catalog> {
  const args = [schema, ORIGIN_TABLES];
  const tables = await client.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = any($2::text[]) and c.relkind in ('r', 'p')`,
    args,
  );
  const columns = await client.query<Column>(COLUMNS_SQL, args);
  const constraints = await client.query<Constraint>(CONSTRAINTS_SQL, args);
  const indexes = await client.query<Index>(INDEXES_SQL, args);
  const triggers = await client.query<Trigger>(TRIGGERS_SQL, args);
  const functions = await client.query<TriggerFunction>(FUNCTIONS_SQL, [schema]);
  return {
    schema,
    tables: new Set(tables.rows.map((row) => row.name)),
    columns: columns.rows,
    constraints: constraints.rows,
    indexes: indexes.rows,
    triggers: triggers.rows,
    functions: functions.rows,
  };
}

const TABLE_JOIN = `join pg_class c on c.oid = %REL% join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = $1 and c.relname = any($2::text[])`;

const COLUMNS_SQL = `
  select c.relname as "table", a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
         format_type(a.atttypid, null) as "baseType", a.attnotnull as "notNull",
         pg_get_expr(d.adbin, d.adrelid) as "default", a.attidentity <> '' as identity
  from pg_attribute a
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  ${TABLE_JOIN.replace('%REL%', 'a.attrelid')} and a.attnum > 0 and not a.attisdropped
  order by c.relname, a.attnum`;

// Not-null constraints (contype 'n' since PostgreSQL 18) are handled as column properties.
const CONSTRAINTS_SQL = `
  select c.relname as "table", con.conname as name, con.contype as kind,
         pg_get_constraintdef(con.oid) as definition,
         case when con.contype = 'c' then pg_get_expr(con.conbin, con.conrelid) end as "checkExpression",
         array(select a.attname from unnest(con.conkey) with ordinality k(num, pos)
               join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num order by k.pos)::text[] as columns,
         rc.relname as "refTable",
         array(select a.attname from unnest(con.confkey) with ordinality k(num, pos)
               join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num order by k.pos)::text[] as "refColumns"
  from pg_constraint con
  left join pg_class rc on rc.oid = con.confrelid
  ${TABLE_JOIN.replace('%REL%', 'con.conrelid')} and con.contype in ('p', 'u', 'c', 'f')
  order by c.relname, con.conname`;

const INDEXES_SQL = `
  select c.relname as "table", i.relname as name, pg_get_indexdef(i.oid) as definition,
         x.indisunique as unique,
         exists (select 1 from pg_constraint con where con.conindid = x.indexrelid
                 and con.conrelid = x.indrelid and con.contype in ('p', 'u', 'x')) as "backsConstraint",
         array(select a.attname from unnest(x.indkey::int2[]) with ordinality k(num, pos)
               join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.num order by k.pos)::text[] as columns,
         pg_get_expr(x.indpred, x.indrelid) as predicate
  from pg_index x join pg_class i on i.oid = x.indexrelid
  ${TABLE_JOIN.replace('%REL%', 'x.indrelid')}
  order by c.relname, i.relname`;

const TRIGGERS_SQL = `
  select c.relname as "table", t.tgname as name, pg_get_triggerdef(t.oid) as definition, p.proname as "functionName"
  from pg_trigger t join pg_proc p on p.oid = t.tgfoid
  ${TABLE_JOIN.replace('%REL%', 't.tgrelid')} and not t.tgisinternal
  order by c.relname, t.tgname`;

const FUNCTIONS_SQL = `
  select p.proname as name, pg_get_function_result(p.oid) as result, l.lanname as language, p.prosrc as source
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
  where n.nspname = $1 and pg_get_function_result(p.oid) = 'trigger' and p.pronargs = 0
  order by p.proname`;

/** A definition with schema qualifiers and its own name removed, so equivalent objects compare equal. */
export function normalise(definition: string, schemas: string[], ownName?: string): string {
  let text = definition;
  for (const schema of schemas)
    text = text
      .split(`${quoteIdent(schema)}.`)
      .join('')
      .split(`${schema}.`)
      .join('');
  if (ownName) text = text.replace(` ${quoteIdent(ownName)} `, ' ').replace(` ${ownName} `, ' ');
  return text;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
