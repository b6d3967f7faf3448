/*
 * Set-based execution: the actions in batches of `size`, each applied by the function's batch
 * executor in one commit. A batch that throws is split and retried down to the bad row.
 */
import type { Action } from '../plan.js';
import { duplicate, fail, listDryRun, settle, upkeepFailed } from './action-outcomes.js';
import type { ExecutionState } from './action-outcomes.js';
import { defer } from './deferred.js';
import type { BatchExecutor } from './execute.js';
import { DuplicateDelivery } from './run.js';
import type { Run } from './run.js';

/**
 * Batches of `size`, in order: a batch started after the budget is deferred whole, maxItems cuts
 * the last one short, and the plan's upkeep commits with the first batch (alone when no action is
 * taken). A batch that throws is halved and each half retried on its own (the upkeep with the
 * first), down to single actions, so one bad row costs only itself and a few extra commits. A
 * DuplicateDelivery stops the run's work: the run that recorded the event did it in full.
 */
export async function executeBatches<A extends Action, D, U = never>(
  run: Run,
  actions: readonly A[],
  execute: BatchExecutor<A, D, U>,
  deps: D,
  size: number,
  upkeep: readonly U[] = [],
): Promise<void> {
  const taken = actions.slice(0, run.scope.maxItems);
  defer(run, actions.length - taken.length);
  const state = { duplicate: false };
  for (let start = 0; start < taken.length || (start === 0 && upkeep.length > 0); start += size) {
    const batch = taken.slice(start, start + size);
    if (state.duplicate) return;
    if (run.pastDeadline) {
      defer(run, batch.length);
      // The upkeep goes with what the run read (and records an event run's event): written even
      // when the work itself must wait for the next run, or that event would be lost.
      if (start === 0 && upkeep.length > 0 && !run.scope.dryRun)
        await executeBatch(run, [], upkeep, execute, deps, state);
      continue;
    }
    if (run.scope.dryRun) {
      batch.forEach((action) => listDryRun(run, action));
      continue;
    }
    await executeBatch(run, batch, start === 0 ? upkeep : [], execute, deps, state);
  }
}

async function executeBatch<A extends Action, D, U>(
  run: Run,
  batch: A[],
  upkeep: readonly U[],
  execute: BatchExecutor<A, D, U>,
  deps: D,
  state: ExecutionState,
): Promise<void> {
  if (state.duplicate) return;
  try {
    const results = await execute(run, batch, deps, upkeep);
    batch.forEach((action, index) =>
      settle(run, action, results[index] ?? { outcome: 'failed', failure: 'no result for the action' }),
    );
  } catch (err) {
    if (err instanceof DuplicateDelivery) return duplicate(run, state);
    const parts = halves(batch, upkeep);
    if (parts.length < 2) return failBatch(run, batch, upkeep, err);
    for (const [actions, withUpkeep] of parts) await executeBatch(run, actions, withUpkeep, execute, deps, state);
  }
}

/** Two parts that together hold the batch (the upkeep with the first), or one when it cannot split. */
function halves<A, U>(batch: A[], upkeep: readonly U[]): [A[], readonly U[]][] {
  if (batch.length > 1) {
    const middle = Math.ceil(batch.length / 2);
    return [
      [batch.slice(0, middle), upkeep],
      [batch.slice(middle), []],
    ];
  }
  if (batch.length === 1 && upkeep.length > 0)
    return [
      [[], upkeep],
      [batch, []],
    ];
  return [[batch, upkeep]];
}

async function failBatch<A extends Action, U>(run: Run, batch: A[], upkeep: readonly U[], err: unknown): Promise<void> {
  if (upkeep.length > 0) upkeepFailed(run, upkeep.length, err);
  for (const action of batch) await fail(run, action, err);
}
