/*
 * The only code that knows about dry run, maxItems, the time budget, counters and action metrics:
 * `decideAndExecute` is the one path from a step's loaded data to its effects (decide → count →
 * safety rails → execute), for single-stage, staged and paged functions alike. Actions run in the
 * order `decide` returned them (urgent first), at most `fanOut` at a time; an action past maxItems
 * or started after the budget is deferred to the next run; a dry run lists what would be done. One
 * action's error fails that action, never the others.
 */
import pLimit from 'p-limit';
import { coerceError } from '../errors.js';
import type { Action, DecideContext, Plan } from '../plan.js';
import { guard } from './rails/guard.js';
import type { ClockReading } from './rails/clock.js';
import { DuplicateDelivery } from './run.js';
import type { Run } from './run.js';
import type { RunReport, RunServices } from './run-scope.js';

export type KernelDeps = { run: RunServices };

export type ActionOutcome = 'applied' | 'conflict' | 'skipped' | 'unknown' | 'failed';

export interface ActionResult {
  outcome: ActionOutcome;
  /** Summary counters this action adds one to. */
  counters?: string[];
  /** Summary counters this action adds a number to (zero included: the key is then reported). */
  counts?: Record<string, number>;
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
 * in one commit and answers one result per action, in order. `upkeep` (the plan's) comes with the
 * first batch only, or alone; it is empty otherwise. Throwing fails the batch: the kernel splits it
 * and retries the parts, so the executor never handles a partial failure itself.
 */
export type BatchExecutor<A extends Action, D, U = never> = (
  run: Run,
  actions: A[],
  deps: D,
  upkeep: readonly U[],
) => Promise<ActionResult[]>;

/** Writes one item of a plan's upkeep (per-action execution), after the actions; its counts go to the summary. */
export type UpkeepWriter<U, D> = (run: Run, item: U, deps: D) => Promise<Pick<ActionResult, 'counters' | 'counts'>>;

/**
 * One executor per action kind (with a writer for the plan's upkeep, if it has any), or one
 * set-based executor for batches of actions (which also takes the upkeep, with its first batch).
 */
export type Execution<A extends Action, D, U = never> =
  | {
      executors: Executors<A, D>;
      /** Actions in flight at once (default 1). */
      fanOut?(deps: D): number;
      upkeep?: UpkeepWriter<U, D>;
    }
  | {
      batch: {
        /** Actions per batch, or read from the deps (a setting). */ size: number | ((deps: D) => number);
        execute: BatchExecutor<A, D, U>;
      };
    };

/** A decide and how its actions are carried out: what the kernel needs for one step of a run. */
export type KernelStep<Options, D, Loaded, A extends Action, U = never> = {
  decide(loaded: Loaded, context: DecideContext<Options>): Plan<A, U>;
  /**
   * The plan's upkeep only records what the run saw (never a step toward acting), so a run that
   * acts on nothing still writes it: a shadow run then decides as a live run would (expire's
   * absence rule needs the earlier sighting of a missing pod).
   */
  upkeepObservesOnly?: true;
} & Execution<A, D, U>;

/** What a step adds to the run's report beyond its counts. */
export interface StepOutcome {
  messages: string[];
  /** Why the run ends `halted`, when a rail withheld destructive actions. */
  halted?: string;
}

/**
 * decide → count → guard → execute, for every function on the kernel: decide sees the maxItems the
 * run has left, its counts go to the summary, the safety rails may withhold actions (a run that acts
 * on nothing — shadow mode, a tripped breaker — writes no upkeep either, unless the upkeep only
 * records what the run observed), and what remains runs.
 */
export async function decideAndExecute<Options, D extends KernelDeps, Loaded, A extends Action, U = never>(
  run: Run,
  step: KernelStep<Options, D, Loaded, A, U>,
  loaded: Loaded,
  deps: D,
  options: Options,
  clock: ClockReading | undefined,
): Promise<StepOutcome> {
  const plan = step.decide(loaded, decideContext(run, options));
  for (const [key, value] of Object.entries(plan.counts ?? {})) run.count(key, value);
  const guarded = await guard(run, deps.run, plan.actions, clock);
  const upkeep = guarded.actsOnNothing && !step.upkeepObservesOnly ? [] : (plan.upkeep ?? []);
  await execute(step, run, guarded.actions, deps, upkeep);
  const messages = [plan.message, guarded.message].filter((part): part is string => part !== undefined && part !== '');
  return { messages, ...(guarded.halted !== undefined ? { halted: guarded.halted } : {}) };
}

/** What decide sees of the run: its instant, the options and the maxItems the run has left. */
export function decideContext<Options>(run: Run, options: Options): DecideContext<Options> {
  return { now: run.now(), options, maxItems: run.itemsLeft };
}

/** The run's report from its steps' outcomes: their messages, and the first rail that halted it. */
export function finish(run: Run, outcomes: readonly StepOutcome[]): RunReport {
  const halted = outcomes.find((outcome) => outcome.halted !== undefined)?.halted;
  return {
    ...run.report(outcomes.flatMap((outcome) => outcome.messages).join('; ')),
    ...(halted !== undefined ? { halted } : {}),
  };
}

function execute<A extends Action, D, U>(
  execution: Execution<A, D, U>,
  run: Run,
  actions: A[],
  deps: D,
  upkeep: readonly U[],
): Promise<void> {
  if ('batch' in execution) {
    const { size } = execution.batch;
    return executeBatches(
      run,
      actions,
      execution.batch.execute,
      deps,
      typeof size === 'function' ? size(deps) : size,
      upkeep,
    );
  }
  const write = execution.upkeep;
  if (upkeep.length > 0 && !write) throw new Error(`${run.fn}: a plan's upkeep needs an upkeep writer`);
  const fanOut = execution.fanOut?.(deps) ?? 1;
  return executeActions(run, actions, execution.executors, deps, fanOut, write ? { items: upkeep, write } : undefined);
}

/**
 * Actions one at a time (or `fanOut` at once), then the plan's upkeep, item by item: never cut by
 * maxItems, written past the budget too (it goes with what the run read, and may carry an event
 * run's inbox record), never by a dry run, and not after a duplicate delivery.
 */
async function executeActions<A extends Action, D, U>(
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

/**
 * Batches of `size`, in order: a batch started after the budget is deferred whole, maxItems cuts
 * the last one short, and the plan's upkeep commits with the first batch (alone when no action is
 * taken). A batch that throws is halved and each half retried on its own (the upkeep with the
 * first), down to single actions, so one bad row costs only itself and a few extra commits. A
 * DuplicateDelivery stops the run's work: the run that recorded the event did it in full.
 */
async function executeBatches<A extends Action, D, U = never>(
  run: Run,
  actions: readonly A[],
  execute: BatchExecutor<A, D, U>,
  deps: D,
  size: number,
  upkeep: readonly U[] = [],
): Promise<void> {
  const taken = actions.slice(0, run.scope.maxItems);
  run.count('deferred', actions.length - taken.length);
  const state = { duplicate: false };
  for (let start = 0; start < taken.length || (start === 0 && upkeep.length > 0); start += size) {
    const batch = taken.slice(start, start + size);
    if (state.duplicate) return;
    if (run.now() >= run.scope.deadline) {
      run.count('deferred', batch.length);
      // The upkeep goes with what the run read (and records an event run's event): written even
      // when the work itself must wait for the next run, or that event would be lost.
      if (start === 0 && upkeep.length > 0 && !run.scope.dryRun)
        await executeBatch(run, [], upkeep, execute, deps, state);
      continue;
    }
    if (run.scope.dryRun) {
      batch.forEach((action) => plan(run, action));
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

function upkeepFailed(run: Run, writes: number, err: unknown): void {
  const error = coerceError(err);
  run.count('upkeep_failed', writes);
  run.failures.push(`upkeep (${writes} write(s)): ${error.message}`);
  run.log.error({ err: error, writes }, 'upkeep could not be written; a later run writes its own');
}

/** Counted once however many actions or batches it stops. */
function duplicate(run: Run, state: ExecutionState): void {
  if (state.duplicate) return;
  state.duplicate = true;
  run.count('duplicate_events');
}

interface ExecutionState {
  duplicate: boolean;
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
  if (run.itemsLeft <= 0 || run.now() >= run.scope.deadline) {
    run.count('deferred');
    return;
  }
  run.started += 1;
  if (run.scope.dryRun) return plan(run, action);
  const executor = executors[action.kind as A['kind']] as unknown as Executor<A, D>;
  try {
    settle(run, action, await executor(run, action, deps));
  } catch (err) {
    if (err instanceof DuplicateDelivery) return duplicate(run, state);
    await fail(run, action, err);
  }
}

function plan(run: Run, action: Action): void {
  const item = action.item ?? {
    action: action.kind,
    [`${action.entity.kind}Id`]: action.entity.id,
    reason: action.reason,
  };
  run.items.push(item);
  run.log.info(item, `[DRY-RUN] Would ${action.kind} ${action.entity.kind} ${action.entity.id}`);
}

function addCounts(run: Run, result: Pick<ActionResult, 'counters' | 'counts'>): void {
  for (const counter of result.counters ?? []) run.count(counter);
  for (const [key, by] of Object.entries(result.counts ?? {})) run.count(key, by);
}

function settle(run: Run, action: Action, result: ActionResult): void {
  addCounts(run, result);
  for (const outcome of result.metrics ?? [result.outcome])
    run.metrics.actions.inc({ function: run.fn, kind: action.kind, outcome });
  if (result.failure !== undefined) run.failures.push(`${action.entity.kind} ${action.entity.id}: ${result.failure}`);
}

async function fail(run: Run, action: Action, err: unknown): Promise<void> {
  const error = coerceError(err);
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
