/*
 * Columns of an adopted table: which 0001 columns must already exist, which existing types the
 * product can work with, which are added (with 0001's default), and which timestamps need the
 * time zone their values were written in before they can become timestamptz.
 */
import type { Column } from './catalog.js';

export interface ColumnPlan {
  problems: string[];
  add: Column[];
  convert: { target: Column; existing: Column }[];
}

const STRING_TYPES = new Set(['character varying', 'text', 'character']);
const NAIVE_TIME_TYPES = new Set(['timestamp without time zone', ...STRING_TYPES]);
// Narrower or equal types a target column accepts as they are: the product reads and writes them
// through node-pg without a change of JavaScript type (bigint and numeric would arrive as strings).
const ACCEPTED: Record<string, string[]> = {
  integer: ['integer', 'smallint'],
  bigint: ['bigint', 'integer', 'smallint'],
  'double precision': ['double precision', 'real'],
};

/**
 * A column 0001 declares NOT NULL without a default cannot be invented for rows that exist, so the
 * origin must have it. Generated surrogate keys are the exception: nothing reads them, and the
 * origin's own key (of any type) is kept.
 */
function isRequired(column: Column): boolean {
  return column.notNull && column.default === null && !column.identity;
}

export function planColumns(reference: Column[], existing: Column[], assumedTimeZone: string | undefined): ColumnPlan {
  const plan: ColumnPlan = { problems: [], add: [], convert: [] };
  const byKey = new Map(existing.map((column) => [`${column.table}.${column.name}`, column]));
  for (const target of reference) {
    const found = byKey.get(`${target.table}.${target.name}`);
    const subject = `${target.table}.${target.name}`;
    if (!found) {
      if (isRequired(target))
        plan.problems.push(
          `${subject}: required column is missing (0001 declares it ${target.type} not null, with no default to fill existing rows)`,
        );
      else plan.add.push(target);
      continue;
    }
    if (target.identity || typeAccepted(target, found)) continue;
    if (target.baseType === 'timestamp with time zone' && NAIVE_TIME_TYPES.has(found.baseType)) {
      if (assumedTimeZone) plan.convert.push({ target, existing: found });
      else
        plan.problems.push(
          `${subject}: is ${found.type}, not timestamptz; its instants are ambiguous. Rerun with --assume-time-zone <zone> (the zone its values were written in, e.g. UTC) to convert it`,
        );
      continue;
    }
    plan.problems.push(`${subject}: type ${found.type} is incompatible with ${target.type}`);
  }
  return plan;
}

function typeAccepted(target: Column, found: Column): boolean {
  if (found.baseType === target.baseType) return true;
  if (STRING_TYPES.has(target.baseType)) return STRING_TYPES.has(found.baseType);
  return ACCEPTED[target.baseType]?.includes(found.baseType) ?? false;
}
