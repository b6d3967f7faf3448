/*
 * A function of several load → decide → execute stages on the kernel (snapshot-sync): the stages
 * share one run — its runs-table row, maxItems, budget, summary, failures and report — and each
 * stage's loaded data goes through `decideAndExecute` (decide, the safety rails, execution) like a
 * single-stage function's. A stage is skipped (`stages_deferred`) once the stop point has passed; a stage whose
 * load or decide throws is reported as a failure, and the stages after it still run.
 */
import type { ZodType } from 'zod';
import type { Action, PlannedStep } from '../plan.js';
import type { LoadInput } from './define-function.js';
import { decideAndExecute, decideContext, finish } from './decide-and-execute.js';
import type { KernelDeps, KernelStep, StepOutcome } from './decide-and-execute.js';
import { defineHandler } from './invocation.js';
import type { BaseOptions, FunctionName, Invocation } from './invocation.js';
import { loadInput } from './define-function.js';
import type { KernelDefinition } from './define-function.js';
import { startRails } from './rails/guard.js';
import { Run } from './run.js';
import { runScoped } from './run-scope.js';
import type { RunScope } from './run-scope.js';

export type Stage<Options extends BaseOptions, D, Loaded, A extends Action, U = never> = {
  name: string;
  load(input: LoadInput<Options, D>): Promise<Loaded>;
} & KernelStep<Options, D, Loaded, A, U>;

/** A stage with its own types erased, so stages of different kinds fit in one list. */
export type AnyStage<Options extends BaseOptions, D> = Stage<Options, D, unknown, Action, unknown>;

export function defineStage<Options extends BaseOptions, D, Loaded, A extends Action, U = never>(
  stage: Stage<Options, D, Loaded, A, U>,
): AnyStage<Options, D> {
  return stage as unknown as AnyStage<Options, D>;
}

export interface StagedShape<Options extends BaseOptions, D> {
  name: FunctionName;
  optionsSchema: ZodType<Options, unknown>;
  /** Summary keys reported even when zero. */
  counters?: readonly string[];
  /** The stages this invocation runs, most urgent first (an event run may need only one). */
  stages(invocation: Invocation<Options>): readonly AnyStage<Options, D>[];
  /**
   * No stage or action starts after this share of the run's budget (default 1), so what is under
   * way when it passes, and the outbox delivery after the run, still end inside the budget.
   */
  stopAtBudgetFraction?: number;
}

export function defineStagedFunction<Options extends BaseOptions, D extends KernelDeps>(
  shape: StagedShape<Options, D>,
): KernelDefinition<Options, D> {
  const definition = defineHandler<Options, D>({
    name: shape.name,
    optionsSchema: shape.optionsSchema,
    handle: (invocation, deps) =>
      runScoped(deps.run, shape.name, invocation, async (scope) => {
        const run = new Run(
          stopEarly(scope, deps.run.budgetSeconds, shape.stopAtBudgetFraction),
          deps.run,
          shape.counters,
        );
        const clock = await startRails(run, deps.run);
        const outcomes: StepOutcome[] = [];
        for (const stage of shape.stages(invocation)) {
          if (run.pastDeadline) {
            run.count('stages_deferred');
            continue;
          }
          outcomes.push(
            await runStage(stage, run, deps, invocation, clock).catch(
              (err: unknown): StepOutcome => (run.fail('stage', stage.name, err), { messages: [] }),
            ),
          );
        }
        return finish(run, outcomes);
      }),
  });
  return { ...definition, plan: (input) => planStages(shape.stages(input.invocation), input) };
}

/** Each stage's decision on its own loaded data, in order; nothing executed, so none sees another's effect. */
async function planStages<Options extends BaseOptions, D>(
  stages: readonly AnyStage<Options, D>[],
  input: LoadInput<Options, D>,
): Promise<PlannedStep[]> {
  const planned: PlannedStep[] = [];
  for (const stage of stages) {
    const loaded = await stage.load(input);
    planned.push({
      step: stage.name,
      actions: stage.decide(loaded, decideContext(input.run, input.invocation.options)).actions,
    });
  }
  return planned;
}

async function runStage<Options extends BaseOptions, D extends KernelDeps>(
  stage: AnyStage<Options, D>,
  run: Run,
  deps: D,
  invocation: Invocation<Options>,
  clock: Awaited<ReturnType<typeof startRails>>,
): Promise<StepOutcome> {
  const loaded = await stage.load(loadInput(run, deps, invocation));
  return decideAndExecute(run, stage, loaded, deps, invocation.options, clock);
}

/** The scope with its deadline moved to `fraction` of the budget (the runs-table row keeps the whole). */
function stopEarly(scope: RunScope, budgetSeconds: number, fraction = 1): RunScope {
  if (fraction >= 1) return scope;
  const startedAt = scope.deadline.getTime() - budgetSeconds * 1000;
  return { ...scope, deadline: new Date(startedAt + budgetSeconds * 1000 * Math.max(0, fraction)) };
}
