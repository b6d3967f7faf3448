/*
 * Builders for the run kernel's tests: test functions of the product's shape whose effect is
 * countable (each action adds to a lab's attempt count), and readers of what a run left behind.
 * A lab whose id starts with 0 is the poisoned one a test asks its executor to fail on.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Db } from '../../shared/db/pool.js';
import type { Deps } from '../../shared/deps.js';
import { EventTypes } from '../../shared/events/types.js';
import type { Action } from '../../shared/plan.js';
import { insertLab } from './fixtures.js';

export interface Bump extends Action {
  kind: 'bump' | 'explode';
  labId: string;
}

export const isPoisoned = (labId: string): boolean => labId.startsWith('0');

/** The load step: every lab in `ending`, by id (so a poisoned lab comes first). */
export async function loadEndingLabs({ deps }: { deps: Pick<Deps, 'pool'> }): Promise<{ id: string }[]> {
  return (await deps.pool.query<{ id: string }>(`select id from labs where status = 'ending' order by id`)).rows;
}

/** The decide step's actions: one bump a lab (an `explode` for a poisoned one when asked). */
export function bumpActions(labs: { id: string }[], { explodePoisoned = false, inputs = false } = {}): Bump[] {
  return labs.map((lab): Bump => ({
    kind: explodePoisoned && isPoisoned(lab.id) ? 'explode' : 'bump',
    labId: lab.id,
    entity: { kind: 'lab', id: lab.id },
    reason: 'test',
    ...(inputs && { inputs: { n: 1 } }),
  }));
}

/** The effect: adds `by` to each lab's attempt count, in one statement. */
export async function bumpLabs(db: Db, labIds: readonly string[], by = 1): Promise<void> {
  await db.query(
    'update labs set watchdog_unknown_attempts = watchdog_unknown_attempts + $2::int where id = any($1::uuid[])',
    [labIds, by],
  );
}

/** The kernel's set-based shape with the plan's upkeep: the upkeep's labs get +100, the batch +1 each. */
export async function bumpWithUpkeep(db: Db, actions: readonly Bump[], upkeep: readonly string[]): Promise<void> {
  await bumpLabs(db, upkeep, 100);
  await bumpLabs(
    db,
    actions.map((action) => action.labId),
  );
}

/** `count` labs in `ending`; the first poisoned when asked. */
export async function insertEndingLabs(pool: pg.Pool, count: number, firstPoisoned = false) {
  const made = [];
  for (let index = 0; index < count; index++) {
    const id = `${index === 0 && firstPoisoned ? '0' : 'a'}${randomUUID().slice(1)}`;
    made.push(await insertLab(pool, { id, status: 'ending' }));
  }
  return made;
}

/** Each lab's attempt count, by id. */
export async function labAttempts(pool: pg.Pool): Promise<number[]> {
  const { rows } = await pool.query<{ n: number }>('select watchdog_unknown_attempts as n from labs order by id');
  return rows.map((row) => row.n);
}

/** The decision-log entries about the labs there are. */
export async function labDecisions(pool: pg.Pool) {
  const { rows } = await pool.query<{ action: string; outcome: string; run_id: string; function: string }>(
    `select action, outcome, run_id, function from decision_log where entity_kind = 'lab' and entity_id in (select id::text from labs)`,
  );
  return rows;
}

export async function countRows(pool: pg.Pool, table: 'event_inbox' | 'event_outbox'): Promise<number> {
  return Number((await pool.query(`select count(*) from ${table}`)).rows[0].count);
}

/** A CloudEvent as the kernel receives it (a fresh id each call). */
export function labEvent(): never {
  return { id: randomUUID(), type: EventTypes.labFinished, source: '/test', data: {} } as never;
}
