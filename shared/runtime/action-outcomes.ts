/*
 * How what happened to an action lands in the run, whichever way it was executed: its result
 * (counters, metrics, a failure, work left unfinished), an error (counted, logged and written to the decision
 * log), a dry run's listing, a failed upkeep write, and a duplicate delivery (which stops the
 * run's work, counted once).
 */
import { coerceError } from '../errors.js';
import type { Action } from '../plan.js';
import { defer } from './deferred.js';
import type { ActionResult } from './execute.js';
import type { Run } from './run.js';

/** Shared by the actions or batches of one step: whether a duplicate delivery stopped its work. */
export interface ExecutionState {
  duplicate: boolean;
}

/**
 * The window the blast-radius breaker reads counts what runs took up, not what they decided: an
 * action another runner already held (skipped), or whose compare-and-set another writer won
 * (conflict), destroyed nothing, and counting it would let replicas racing for the same work trip
 * the breaker on a fleet far below its limit. Anything else (applied, unknown, failed, left
 * unfinished) may have destroyed something and counts: for a safety rail, too many beats too few.
 */
const DESTROYED_NOTHING: ReadonlySet<ActionResult['outcome']> = new Set(['skipped', 'conflict']);

function countDestructive(run: Run, action: Action, outcome: ActionResult['outcome']): void {
  if (action.destructive === true && !DESTROYED_NOTHING.has(outcome)) run.count('destructive');
}

export function settle(run: Run, action: Action, result: ActionResult): void {
  countDestructive(run, action, result.outcome);
  addCounts(run, result);
  if (result.unfinished) defer(run);
  for (const outcome of result.metrics ?? [result.outcome])
    run.metrics.actions.inc({ function: run.fn, kind: action.kind, outcome });
  if (result.failure !== undefined) run.failures.push(`${action.entity.kind} ${action.entity.id}: ${result.failure}`);
}

export function addCounts(run: Run, result: Pick<ActionResult, 'counters' | 'counts'>): void {
  for (const counter of result.counters ?? []) run.count(counter);
  for (const [key, by] of Object.entries(result.counts ?? {})) run.count(key, by);
}

export async function fail(run: Run, action: Action, err: unknown): Promise<void> {
  const error = coerceError(err);
  countDestructive(run, action, 'failed');
  run.count('actions_failed');
  run.metrics.actions.inc({ function: run.fn, kind: action.kind, outcome: 'failed' });
  run.failures.push(`${action.kind} ${action.entity.kind} ${action.entity.id}: ${error.message}`);
  run.log.error({ err: error, kind: action.kind, entity: action.entity }, 'action failed; a later run retries it');
  await run.record([
    {
      entityKind: action.entity.kind,
      entityId: action.entity.id,
      action: action.kind,
      reason: 'the action failed; a later run retries it',
      inputs: action.inputs,
      outcome: 'failed',
      error: error.message,
    },
  ]);
}

/** A dry run lists what it would do instead of doing it. */
export function listDryRun(run: Run, action: Action): void {
  const item = action.item ?? {
    action: action.kind,
    [`${action.entity.kind}Id`]: action.entity.id,
    reason: action.reason,
  };
  run.items.push(item);
  run.log.info(item, `[DRY-RUN] Would ${action.kind} ${action.entity.kind} ${action.entity.id}`);
}

export function upkeepFailed(run: Run, writes: number, err: unknown): void {
  const error = coerceError(err);
  run.count('upkeep_failed', writes);
  run.failures.push(`upkeep (${writes} write(s)): ${error.message}`);
  run.log.error({ err: error, writes }, 'upkeep could not be written; a later run writes its own');
}

/** Counted once however many actions or batches it stops. */
export function duplicate(run: Run, state: ExecutionState): void {
  if (state.duplicate) return;
  state.duplicate = true;
  run.count('duplicate_events');
}
