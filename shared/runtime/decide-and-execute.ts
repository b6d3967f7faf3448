/*
 * The one path from a step's loaded data to its effects, for single-stage, staged and paged
 * functions alike: decide → count → safety rails → execute. With the files it calls
 * (execute-actions.ts, execute-batches.ts, action-outcomes.ts, deferred.ts) it is the only code
 * that knows about dry run, maxItems, the time budget, counters and action metrics.
 */
import type { Action, DecideContext, Plan } from '../plan.js';
import { defer } from './deferred.js';
import { executeActions } from './execute-actions.js';
import { executeBatches } from './execute-batches.js';
import type { Execution } from './execute.js';
import { guard } from './rails/guard.js';
import type { ClockReading } from './rails/clock.js';
import type { Run } from './run.js';
import type { RunReport, RunServices } from './run-scope.js';

export type KernelDeps = { run: RunServices };

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
 * run has left, its counts go to the summary (its backlog as deferred), the safety rails may
 * withhold actions (a run that acts on nothing — shadow mode, a tripped breaker — writes no upkeep
 * either, unless the upkeep only records what the run observed), and what remains runs. An event
 * run the breaker holds so records no inbox entry: run-scope.ts then leaves its event
 * unacknowledged, for the platform to deliver again.
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
  if (plan.backlog !== undefined) defer(run, plan.backlog);
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

/** The step's actions through its batch executor, or one by one through its executors. */
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
