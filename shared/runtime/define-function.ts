/*
 * One shape for every function: `load` (read-only I/O; SQL only gathers candidates) → `decide`
 * (pure; actions with their reasons and inputs) → `execute` (one executor per action kind, run by
 * the kernel). The kernel around it records the run, applies dry run, maxItems and the budget,
 * counts, and commits every effect with its decisions, events and inbox record.
 */
import type { ZodType } from 'zod';
import { defineHandler } from './invocation.js';
import type { BaseOptions, FunctionDefinition, FunctionName, Invocation } from './invocation.js';
import { executeActions, executeBatches } from './execute.js';
import type { BatchExecutor, Executors } from './execute.js';
import { Run } from './run.js';
import type { Action, DecideContext, Plan } from '../plan.js';
import { runScoped } from './run-scope.js';
import { guard, startRails } from './rails/guard.js';
import type { RunServices } from './run-scope.js';

export interface LoadInput<Options, D> {
  run: Run;
  deps: D;
  invocation: Invocation<Options>;
}

/**
 * One executor per action kind, or one set-based executor for batches of actions (which also takes
 * the plan's upkeep, `U`, with its first batch).
 */
export type Execution<A extends Action, D, U = never> =
  | { executors: Executors<A, D>; /** Actions in flight at once (default 1). */ fanOut?(deps: D): number }
  | {
      batch: {
        /** Actions per batch, or read from the deps (a setting). */ size: number | ((deps: D) => number);
        execute: BatchExecutor<A, D, U>;
      };
    };

interface ShapeBase<Options extends BaseOptions, D, Loaded, A extends Action, U = never> {
  name: FunctionName;
  optionsSchema: ZodType<Options, unknown>;
  /** Summary keys reported even when zero. */
  counters?: readonly string[];
  load(input: LoadInput<Options, D>): Promise<Loaded>;
  decide(loaded: Loaded, context: DecideContext<Options>): Plan<A, U>;
}

export type FunctionShape<Options extends BaseOptions, D, Loaded, A extends Action, U = never> = ShapeBase<
  Options,
  D,
  Loaded,
  A,
  U
> &
  Execution<A, D, U>;

export type KernelDeps = { run: RunServices };

/** A function on the kernel: its load and decide are exposed, so a policy preview can run them alone. */
export type KernelDefinition<Options extends BaseOptions, D, Loaded, A extends Action, U = never> = FunctionDefinition<
  Options,
  D
> &
  Pick<ShapeBase<Options, D, Loaded, A, U>, 'load' | 'decide'>;

export function defineFunction<Options extends BaseOptions, D extends KernelDeps, Loaded, A extends Action, U = never>(
  shape: FunctionShape<Options, D, Loaded, A, U>,
): KernelDefinition<Options, D, Loaded, A, U> {
  const definition = defineHandler<Options, D>({
    name: shape.name,
    optionsSchema: shape.optionsSchema,
    handle: (invocation, deps) =>
      runScoped(deps.run, shape.name, invocation, async (scope) => {
        const run = new Run(scope, deps.run, shape.counters);
        const clock = await startRails(run, deps.run);
        const loaded = await shape.load({ run, deps, invocation });
        const plan = shape.decide(loaded, { now: scope.now(), options: invocation.options, maxItems: scope.maxItems });
        for (const [key, value] of Object.entries(plan.counts ?? {})) run.count(key, value);
        const guarded = await guard(run, deps.run, plan.actions, clock);
        // A run that acts on nothing (shadow mode, a tripped breaker) writes no upkeep either.
        await execute(shape, run, guarded.actions, deps, guarded.actsOnNothing ? [] : (plan.upkeep ?? []));
        const message = [plan.message, guarded.message].filter((part) => part !== undefined).join('; ');
        return { ...run.report(message), ...(guarded.halted !== undefined ? { halted: guarded.halted } : {}) };
      }),
  });
  return { ...definition, load: shape.load, decide: shape.decide };
}

function execute<A extends Action, D, U>(
  execution: Execution<A, D, U>,
  run: Run,
  actions: A[],
  deps: D,
  upkeep: readonly U[] = [],
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
  if (upkeep.length > 0) throw new Error(`${run.fn}: a plan's upkeep needs a batch executor`);
  return executeActions(run, actions, execution.executors, deps, { fanOut: execution.fanOut?.(deps) });
}
