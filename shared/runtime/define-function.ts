/*
 * One shape for every function: `load` (read-only I/O; SQL only gathers candidates) → `decide`
 * (pure; actions with their reasons and inputs) → `execute` (one executor per action kind, run by
 * the kernel). The kernel around it records the run, applies dry run, maxItems and the budget,
 * counts, and commits every effect with its decisions, events and inbox record.
 */
import type { ZodType } from 'zod';
import { defineHandler } from './invocation.js';
import type { BaseOptions, FunctionDefinition, FunctionName, Invocation } from './invocation.js';
import { decideAndExecute, decideContext, finish } from './decide-and-execute.js';
import type { KernelDeps } from './decide-and-execute.js';
import { DEFERRED } from './deferred.js';
import type { Execution } from './execute.js';
import { Run } from './run.js';
import type { Action, DecideContext, Plan, PlannedStep } from '../plan.js';
import { runScoped } from './run-scope.js';
import { startRails } from './rails/guard.js';

export type { KernelDeps } from './decide-and-execute.js';

export interface LoadInput<Options, D> {
  run: Run;
  deps: D;
  invocation: Invocation<Options>;
  /** The most items this step may still act on (the kernel's maxItems, less what the run started): read no more candidates. */
  limit: number;
}

export const loadInput = <Options, D>(run: Run, deps: D, invocation: Invocation<Options>): LoadInput<Options, D> => ({
  run,
  deps,
  invocation,
  limit: run.itemsLeft,
});

interface ShapeBase<Options extends BaseOptions, D, Loaded, A extends Action, U = never> {
  name: FunctionName;
  optionsSchema: ZodType<Options, unknown>;
  /** Summary keys reported even when zero (the kernel adds `deferred`, its own). */
  counters?: readonly string[];
  load(input: LoadInput<Options, D>): Promise<Loaded>;
  decide(loaded: Loaded, context: DecideContext<Options>): Plan<A, U>;
  /** See KernelStep: an upkeep that only records what the run saw is written even when nothing is acted on. */
  upkeepObservesOnly?: true;
}

export type FunctionShape<Options extends BaseOptions, D, Loaded, A extends Action, U = never> = ShapeBase<
  Options,
  D,
  Loaded,
  A,
  U
> &
  Execution<A, D, U>;

/**
 * A function on the kernel: `plan` runs its load(s) and decide(s) alone and executes nothing, so a
 * policy preview can compare two settings on the live data. Its load must be read-only (the
 * kernel's contract for every load).
 */
export type KernelDefinition<Options extends BaseOptions, D> = FunctionDefinition<Options, D> & {
  plan(input: LoadInput<Options, D>): Promise<PlannedStep[]>;
};

export function defineFunction<Options extends BaseOptions, D extends KernelDeps, Loaded, A extends Action, U = never>(
  shape: FunctionShape<Options, D, Loaded, A, U>,
): KernelDefinition<Options, D> {
  const definition = defineHandler<Options, D>({
    name: shape.name,
    optionsSchema: shape.optionsSchema,
    handle: (invocation, deps) =>
      runScoped(deps.run, shape.name, invocation, async (scope) => {
        const run = new Run(scope, deps.run, [...(shape.counters ?? []), DEFERRED]);
        const clock = await startRails(run, deps.run);
        const loaded = await shape.load(loadInput(run, deps, invocation));
        return finish(run, [await decideAndExecute(run, shape, loaded, deps, invocation.options, clock)]);
      }),
  });
  return {
    ...definition,
    plan: async (input) => {
      const loaded = await shape.load(input);
      return [{ actions: shape.decide(loaded, decideContext(input.run, input.invocation.options)).actions }];
    },
  };
}
