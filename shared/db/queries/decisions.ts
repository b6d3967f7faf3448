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

export async function appendDecisions(db: Db, decisions: Decision[], now: Date): Promise<void> {
  if (decisions.length === 0) return;
  await db.query(
    `insert into decision_log (decided_at, run_id, function, entity_kind, entity_id, action, reason, inputs, outcome, error)
     select $2, d.run_id, d.fn, d.entity_kind, d.entity_id, d.action, d.reason, coalesce(d.inputs, '{}'::jsonb), d.outcome, d.error
     from jsonb_to_recordset($1::jsonb)
       as d(run_id uuid, fn text, entity_kind text, entity_id text, action text, reason text, inputs jsonb, outcome text, error text)`,
    [JSON.stringify(decisions.map(toRecord)), now],
  );
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
