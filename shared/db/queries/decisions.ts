/* The append-only decision log: what was decided about which entity, why, and how it ended. */
import type { Db } from '../pool.js';

/** halted: withheld by a safety rail; shadow: decided in shadow mode, not acted on (0022). */
export type DecisionOutcome = 'applied' | 'dry_run' | 'conflict' | 'skipped' | 'failed' | 'halted' | 'shadow';
/** function: a rail's or an operator's record about a whole function (0022). */
export type EntityKind = 'reservation' | 'lab' | 'disk' | 'snapshot' | 'pod' | 'volume' | 'function';

export interface Decision {
  runId?: string;
  fn: string;
  entityKind: EntityKind;
  entityId: string;
  action: string;
  reason: string;
  inputs?: Record<string, unknown>;
  outcome: DecisionOutcome;
  error?: string;
}

/**
 * A shadow decision that stands unchanged is recorded again once its latest record is this old, so
 * a shadow report sees every decision still standing in its window by reading this far (plus a
 * margin for the schedule) before the window: see shadow.ts.
 */
export const SHADOW_RECORD_AGAIN_HOURS = 6;

/**
 * Inputs that change with the clock alone (warn's minutes left before the deadline): a shadow run
 * deciding the same thing a minute later is not a new decision.
 */
const CLOCK_INPUTS = ['minutesLeft'];

/**
 * Appends the decisions; returns how many were recorded. A shadow run decides again, every run,
 * what it decided before (it acts on nothing, so nothing changes: cleanup-pod would re-decide a
 * week of ended reservations each run), so a shadow decision is recorded only when its entity's
 * decisions of the run differ from those of the entity's latest shadow record of the function, or
 * that record is SHADOW_RECORD_AGAIN_HOURS old. The first record of a decision stays the time "we
 * would have acted", which is what the shadow report judges. The same decision is the same action,
 * the same inputs but for CLOCK_INPUTS, and the same reason once its numbers are masked: a reason
 * is prose over the inputs and the clock (ending-watchdog's "in ENDING for 75.0 minutes", warn's
 * minutes left), and every number in a reason that is not the clock's is in the inputs too (warn's
 * level and deadline, oom-scan's termination ordinal, expire's deadline). The entity's decisions
 * are compared as a set and, when one differs, all of them are recorded again: an entity with two
 * decisions in a run (two OOM kills of one reservation) must not have one of them recorded anew
 * every run because the other is the latest. Other outcomes are always recorded. One statement,
 * reading the latest records through decision_log_shadow_entity (0030).
 */
export async function appendDecisions(db: Db, decisions: Decision[], now: Date): Promise<number> {
  if (decisions.length === 0) return 0;
  const { rowCount } = await db.query(
    `with batch as (
       select * from jsonb_to_recordset($1::jsonb)
         as d(run_id uuid, fn text, entity_kind text, entity_id text, action text, reason text, inputs jsonb, outcome text, error text)),
     latest as materialized (
       select e.fn, e.entity_kind, e.entity_id, last.decided_at
       from (select distinct fn, entity_kind, entity_id from batch where outcome = 'shadow') e
       cross join lateral (
         select decided_at from decision_log
         where outcome = 'shadow' and function = e.fn and entity_kind = e.entity_kind and entity_id = e.entity_id
         order by decided_at desc limit 1) last
       where last.decided_at > $2::timestamptz - make_interval(hours => $3)),
     standing as materialized (
       select l.function as fn, l.entity_kind, l.entity_id, l.action, l.reason, l.inputs
       from latest e join decision_log l
         on l.outcome = 'shadow' and l.function = e.fn and l.entity_kind = e.entity_kind and l.entity_id = e.entity_id
        and l.decided_at = e.decided_at),
     changed as materialized (
       select distinct fn, entity_kind, entity_id from (
         select fn, entity_kind, entity_id, action, inputs - $4::text[], regexp_replace(reason, '[0-9]+', '#', 'g')
         from batch where outcome = 'shadow'
         except
         select fn, entity_kind, entity_id, action, inputs - $4::text[], regexp_replace(reason, '[0-9]+', '#', 'g')
         from standing) differing)
     insert into decision_log (decided_at, run_id, function, entity_kind, entity_id, action, reason, inputs, outcome, error)
     select $2, d.run_id, d.fn, d.entity_kind, d.entity_id, d.action, d.reason, d.inputs, d.outcome, d.error
     from batch d
     where d.outcome <> 'shadow'
        or (d.fn, d.entity_kind, d.entity_id) in (select fn, entity_kind, entity_id from changed)`,
    [JSON.stringify(decisions.map(toRecord)), now, SHADOW_RECORD_AGAIN_HOURS, CLOCK_INPUTS],
  );
  return rowCount ?? 0;
}

function toRecord(decision: Decision) {
  return {
    run_id: decision.runId ?? null,
    fn: decision.fn,
    entity_kind: decision.entityKind,
    entity_id: decision.entityId,
    action: decision.action,
    reason: decision.reason,
    inputs: decision.inputs ?? {},
    outcome: decision.outcome,
    error: decision.error ?? null,
  };
}

export interface DecisionRow {
  decided_at: Date;
  function: string;
  action: string;
  reason: string;
  outcome: DecisionOutcome;
  inputs: Record<string, unknown>;
  error: string | null;
}

/** "What happened to X and why", newest first. */
export async function decisionsFor(
  db: Db,
  entityKind: EntityKind,
  entityId: string,
  limit = 50,
): Promise<DecisionRow[]> {
  const { rows } = await db.query<DecisionRow>(
    `select decided_at, function, action, reason, outcome, inputs, error from decision_log
     where entity_kind = $1 and entity_id = $2 order by decided_at desc, id desc limit $3`,
    [entityKind, entityId, limit],
  );
  return rows;
}
