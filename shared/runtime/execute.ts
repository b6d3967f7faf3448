/*
 * The only code that knows about dry run, maxItems, the time budget, counters and action metrics.
 * Actions run in the order `decide` returned them (urgent first), at most `fanOut` at a time; an
 * action past maxItems or started after the budget is deferred to the next run; a dry run lists
 * what would be done. One action's error fails that action, never the others.
 */
import pLimit from 'p-limit';
import { coerceError } from '../errors.js';
import { DuplicateDelivery } from './run.js';
import type { Action, Run } from './run.js';

export type ActionOutcome = 'applied' | 'conflict' | 'skipped' | 'unknown' | 'failed';

export interface ActionResult {
  outcome: ActionOutcome;
  /** Summary counters this action adds one to. */
  counters?: string[];
  /** `actions_total` outcome labels to add one to (default: the outcome). */
  metrics?: string[];
  /** Set when the run must end `failed` because of this action (unverified evidence, an error). */
  failure?: string;
}

export type Executor<A extends Action, D> = (run: Run, action: A, deps: D) => Promise<ActionResult>;

/** One executor per action kind. */
export type Executors<A extends Action, D> = { [K in A['kind']]: Executor<A & { kind: K }, D> };

/**
 * Set-based execution: one call applies a batch of actions (each still a compare-and-set per row)
 * and answers one result per action, in order.
 */
export type BatchExecutor<A extends Action, D> = (run: Run, actions: A[], deps: D) => Promise<ActionResult[]>;

export interface ExecuteOptions {
  /** Actions in flight at once (default 1: in order). */
  fanOut?: number;
}

export async function executeActions<A extends Action, D>(
  run: Run,
  actions: readonly A[],
  executors: Executors<A, D>,
  deps: D,
  options: ExecuteOptions = {},
): Promise<void> {
  const limit = pLimit(Math.max(1, options.fanOut ?? 1));
  const state = { left: run.scope.maxItems, duplicate: false };
  await Promise.all(actions.map((action) => limit(() => executeOne(run, action, executors, deps, state))));
}

/**
 * Upkeep: a write that goes with what the run read (e.g. recording the pod observations it made),
 * not an item of work. With batches it is never cut by maxItems nor listed by a dry run (which
 * writes nothing), and it commits with the first batch (alone when there is no other action).
 */
export type Upkeep = { upkeep: true };

const isUpkeep = (action: Action): boolean => (action as Partial<Upkeep>).upkeep === true;

/**
 * Batches of `size`, in order: a batch started after the budget is deferred whole, maxItems cuts
 * the last one short, and a batch that throws fails its actions only.
 */
export async function executeBatches<A extends Action, D>(run: Run, actions: readonly A[], execute: BatchExecutor<A, D>, deps: D, size: number): Promise<void> {
  const upkeep = actions.filter(isUpkeep);
  const work = actions.filter((action) => !isUpkeep(action));
  const taken = work.slice(0, run.scope.maxItems);
  run.count('deferred', work.length - taken.length);
  for (let start = 0; start < taken.length || (start === 0 && upkeep.length > 0); start += size) {
    const batch = taken.slice(start, start + size);
    if (run.now() >= run.scope.deadline) {
      run.count('deferred', batch.length);
      continue;
    }
    if (run.scope.dryRun) {
      batch.forEach((action) => plan(run, action));
      continue;
    }
    await executeBatch(run, start === 0 ? [...upkeep, ...batch] : batch, execute, deps);
  }
}

async function executeBatch<A extends Action, D>(run: Run, batch: A[], execute: BatchExecutor<A, D>, deps: D): Promise<void> {
  try {
    const results = await execute(run, batch, deps);
    batch.forEach((action, index) => settle(run, action, results[index] ?? { outcome: 'failed', failure: 'no result for the action' }));
  } catch (err) {
    for (const action of batch) await fail(run, action, err);
  }
}

interface ExecutionState {
  left: number;
  duplicate: boolean;
}

async function executeOne<A extends Action, D>(run: Run, action: A, executors: Executors<A, D>, deps: D, state: ExecutionState): Promise<void> {
  // A duplicate delivery was already done in full by the run that recorded it.
  if (state.duplicate) return;
  if (state.left <= 0 || run.now() >= run.scope.deadline) {
    run.count('deferred');
    return;
  }
  state.left -= 1;
  if (run.scope.dryRun) return plan(run, action);
  const executor = executors[action.kind as A['kind']] as unknown as Executor<A, D>;
  try {
    settle(run, action, await executor(run, action, deps));
  } catch (err) {
    if (err instanceof DuplicateDelivery) {
      state.duplicate = true;
      run.count('duplicate_events');
      return;
    }
    await fail(run, action, err);
  }
}

function plan(run: Run, action: Action): void {
  const item = action.item ?? { action: action.kind, [`${action.entity.kind}Id`]: action.entity.id, reason: action.reason };
  run.items.push(item);
  run.log.info(item, `[DRY-RUN] Would ${action.kind} ${action.entity.kind} ${action.entity.id}`);
}

function settle(run: Run, action: Action, result: ActionResult): void {
  for (const counter of result.counters ?? []) run.count(counter);
  for (const outcome of result.metrics ?? [result.outcome]) run.metrics.actions.inc({ function: run.fn, kind: action.kind, outcome });
  if (result.failure !== undefined) run.failures.push(`${action.entity.kind} ${action.entity.id}: ${result.failure}`);
}

async function fail(run: Run, action: Action, err: unknown): Promise<void> {
  const error = coerceError(err);
  run.count('actions_failed');
  run.metrics.actions.inc({ function: run.fn, kind: action.kind, outcome: 'failed' });
  run.failures.push(`${action.kind} ${action.entity.kind} ${action.entity.id}: ${error.message}`);
  run.log.error({ err: error, kind: action.kind, entity: action.entity }, 'action failed; a later run retries it');
  await run.record([{ entityKind: action.entity.kind, entityId: action.entity.id, action: action.kind, reason: 'the action failed; a later run retries it', inputs: action.inputs, outcome: 'failed', error: error.message }]);
}
