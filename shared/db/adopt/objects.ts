/*
 * Constraints, indexes, trigger functions and triggers that 0001 declares and the adopted tables
 * lack. An equivalent object under another name (the origin's own index on owner_id, say) counts
 * as present. A constraint is added only after checking that no existing row violates it;
 * violations become problems that name the constraint, the count and a few ids.
 */
import type pg from 'pg';
import type { Catalog, Constraint, Index } from './catalog.js';
import { normalise, quoteIdent as q } from './catalog.js';
import type { AdoptionLog } from './columns-apply.js';
import type { Violations } from './violations.js';
import { duplicates, violations } from './violations.js';

const CONSTRAINT_ORDER = ['p', 'u', 'c', 'f'];

export async function addConstraints(
  client: pg.ClientBase,
  reference: Catalog,
  target: Catalog,
  log: AdoptionLog,
): Promise<void> {
  const wanted = [...reference.constraints].sort(
    (a, b) => CONSTRAINT_ORDER.indexOf(a.kind) - CONSTRAINT_ORDER.indexOf(b.kind),
  );
  for (const constraint of wanted) {
    const definition = normalise(constraint.definition, [reference.schema]);
    const same = target.constraints.filter((other) => other.table === constraint.table);
    const equivalent = same.find(
      (other) => other.kind === constraint.kind && normalise(other.definition, [target.schema]) === definition,
    );
    if (equivalent) continue;
    const named = same.find(
      (other) => other.name === constraint.name || (constraint.kind === 'p' && other.kind === 'p'),
    );
    if (named) {
      log.problems.push(
        `${constraint.table}: ${named.name} is ${named.definition}, but 0001 declares ${constraint.name} ${definition}`,
      );
      continue;
    }
    const broken = await constraintViolations(client, constraint);
    if (broken.count > 0) {
      log.problems.push(
        `${constraint.table}: ${broken.count} rows violate ${constraint.name} (${definition}), e.g. ${broken.sample}`,
      );
      continue;
    }
    await client.query(`alter table ${q(constraint.table)} add constraint ${q(constraint.name)} ${definition}`);
    log.changes.push(`added constraint ${constraint.table}.${constraint.name} ${definition}`);
  }
}

function constraintViolations(client: pg.ClientBase, constraint: Constraint): Promise<Violations> {
  if (constraint.kind === 'c') return violations(client, constraint.table, `(${constraint.checkExpression}) is false`);
  if (constraint.kind !== 'f') return duplicates(client, constraint.table, constraint.columns, null);
  const filled = constraint.columns.map((column) => `${q(column)} is not null`).join(' and ');
  const matches = constraint.columns
    .map((column, position) => `r.${q(constraint.refColumns[position]!)} = ${q(constraint.table)}.${q(column)}`)
    .join(' and ');
  return violations(
    client,
    constraint.table,
    `${filled} and not exists (select 1 from ${q(constraint.refTable!)} r where ${matches})`,
  );
}

export async function addIndexes(
  client: pg.ClientBase,
  reference: Catalog,
  target: Catalog,
  log: AdoptionLog,
): Promise<void> {
  for (const index of reference.indexes.filter((candidate) => !candidate.backsConstraint)) {
    const shape = normalise(index.definition, [reference.schema], index.name);
    const same = target.indexes.filter((other) => other.table === index.table);
    if (same.some((other) => normalise(other.definition, [target.schema], other.name) === shape)) continue;
    if (same.some((other) => other.name === index.name)) {
      log.problems.push(
        `${index.table}: an index named ${index.name} exists with another definition than 0001's (${shape})`,
      );
      continue;
    }
    if (await indexBlocked(client, index, log)) continue;
    await client.query(normalise(index.definition, [reference.schema]));
    log.changes.push(`created index ${index.name} on ${index.table}`);
  }
}

async function indexBlocked(client: pg.ClientBase, index: Index, log: AdoptionLog): Promise<boolean> {
  if (!index.unique) return false;
  const broken = await duplicates(client, index.table, index.columns, index.predicate);
  if (broken.count === 0) return false;
  log.problems.push(
    `${index.table}: ${broken.count} rows violate the unique index ${index.name} (${index.columns.join(', ')}${index.predicate ? ` where ${index.predicate}` : ''}), e.g. ${broken.sample}`,
  );
  return true;
}

export async function addTriggers(
  client: pg.ClientBase,
  reference: Catalog,
  target: Catalog,
  log: AdoptionLog,
): Promise<void> {
  for (const fn of reference.functions) {
    const existing = target.functions.find((other) => other.name === fn.name);
    if (existing?.source === fn.source) continue;
    if (existing) {
      log.problems.push(`a different function named ${fn.name}() exists; 0001 needs its own`);
      continue;
    }
    await client.query(
      `create function ${q(fn.name)}() returns ${fn.result} language ${fn.language} as $devenv_adopt$${fn.source}$devenv_adopt$`,
    );
    log.changes.push(`created function ${fn.name}()`);
  }
  for (const trigger of reference.triggers) {
    const definition = normalise(trigger.definition, [reference.schema]);
    const existing = target.triggers.find((other) => other.table === trigger.table && other.name === trigger.name);
    if (existing && normalise(existing.definition, [target.schema]) === definition) continue;
    if (existing) {
      log.problems.push(
        `${trigger.table}: a trigger named ${trigger.name} exists with another definition than 0001's (${definition})`,
      );
      continue;
    }
    await client.query(definition);
    log.changes.push(`created trigger ${trigger.name} on ${trigger.table}`);
  }
}
