/*
 * Per-action execution: each action through its kind's executor, in the order decide returned
 * them (urgent first), at most `fanOut` at a time. An action past maxItems or started after the
 * budget is deferred to the next run; a dry run lists what would be done; one action's error fails
 * that action, never the others.
 */
import pLimit from 'p-limit';
import type { Action } from '../plan.js';
import { duplicate, fail, listDryRun, addCounts, settle, upkeepFailed } from './action-outcomes.js';
import type { ExecutionState } from './action-outcomes.js';
import { defer } from './deferred.js';
import type { Executor, Executors, UpkeepWriter } from './execute.js';
import { DuplicateDelivery } from './run.js';
import type { Run } from './run.js';

/**
 * Actions one at a time (or `fanOut` at once), then the plan's upkeep, item by item: never cut by
 * maxItems, written past the budget too (it goes with what the run read, and may carry an event
 * run's inbox record), never by a dry run, and not after a duplicate delivery.
 */
export async function executeActions<A extends Action, D, U>(
  run: Run,
  actions: readonly A[],
  executors: Executors<A, D>,
  deps: D,
  fanOut: number,
  upkeep?: { items: readonly U[]; write: UpkeepWriter<U, D> },
): Promise<void> {
  const limit = pLimit(Math.max(1, fanOut));
  const state = { duplicate: false };
  await Promise.all(actions.map((action) => limit(() => executeOne(run, action, executors, deps, state))));
  if (!upkeep) return;
  for (const item of upkeep.items) {
    if (state.duplicate || run.scope.dryRun) return;
    try {
      addCounts(run, await upkeep.write(run, item, deps));
    } catch (err) {
      if (err instanceof DuplicateDelivery) return duplicate(run, state);
      upkeepFailed(run, 1, err);
    }
  }
}

async function executeOne<A extends Action, D>(
  run: Run,
  action: A,
  executors: Executors<A, D>,
  deps: D,
  state: ExecutionState,
): Promise<void> {
  // A duplicate delivery was already done in full by the run that recorded it.
  if (state.duplicate) return;
  if (run.itemsLeft <= 0 || run.pastDeadline) return defer(run);
  run.started += 1;
  if (run.scope.dryRun) return listDryRun(run, action);
  const executor = executors[action.kind as A['kind']] as unknown as Executor<A, D>;
  try {
    settle(run, action, await executor(run, action, deps));
  } catch (err) {
    if (err instanceof DuplicateDelivery) return duplicate(run, state);
    await fail(run, action, err);
  }
}
