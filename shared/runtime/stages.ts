/*
 * A function of several load → decide → execute stages on the kernel (snapshot-sync): the stages
 * share one run — its runs-table row, maxItems, budget, summary, failures and report — and each
 * stage's actions pass the safety rails and run through `executeActions` like a single-stage
 * function's. A stage is skipped (`stages_deferred`) once the stop point has passed; a stage whose
 * load or decide throws is reported as a failure, and the stages after it still run.
 */
import type { ZodType } from 'zod';
import type { Action, DecideContext, Plan } from '../plan.js';
import type { KernelDeps, LoadInput } from './define-function.js';
import { executeActions } from './execute.js';
import type { Executors } from './execute.js';
import { defineHandler } from './invocation.js';
import type { BaseOptions, FunctionDefinition, FunctionName, Invocation } from './invocation.js';
import { guard, startRails } from './rails/guard.js';
import { Run } from './run.js';
import { runScoped } from './run-scope.js';
import type { RunScope } from './run-scope.js';

export interface Stage<Options extends BaseOptions, D, Loaded, A extends Action> {
  name: string;
  load(input: LoadInput<Options, D>): Promise<Loaded>;
  decide(loaded: Loaded, context: DecideContext<Options>): Plan<A>;
  executors: Executors<A, D>;
  /** Actions in flight at once (default 1). */
  fanOut?(deps: D): number;
}

/** A stage with its own types erased, so stages of different kinds fit in one list. */
export type AnyStage<Options extends BaseOptions, D> = Stage<Options, D, unknown, Action>;

export function defineStage<Options extends BaseOptions, D, Loaded, A extends Action>(
  stage: Stage<Options, D, Loaded, A>,
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

interface StageOutcome {
  message?: string;
  halted?: string;
}

export function defineStagedFunction<Options extends BaseOptions, D extends KernelDeps>(
  shape: StagedShape<Options, D>,
): FunctionDefinition<Options, D> {
  return defineHandler<Options, D>({
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
        const outcomes: StageOutcome[] = [];
        for (const stage of shape.stages(invocation)) {
          if (run.now() >= run.scope.deadline) {
            run.count('stages_deferred');
            continue;
          }
          outcomes.push(
            await runStage(stage, run, deps, invocation, clock).catch(
              (err: unknown) => (run.fail('stage', stage.name, err), {}),
            ),
          );
        }
        const message = outcomes.flatMap((outcome) => (outcome.message ? [outcome.message] : [])).join('; ');
        const halted = outcomes.find((outcome) => outcome.halted !== undefined)?.halted;
        return { ...run.report(message), ...(halted !== undefined ? { halted } : {}) };
      }),
  });
}

async function runStage<Options extends BaseOptions, D extends KernelDeps>(
  stage: AnyStage<Options, D>,
  run: Run,
  deps: D,
  invocation: Invocation<Options>,
  clock: Awaited<ReturnType<typeof startRails>>,
): Promise<StageOutcome> {
  const loaded = await stage.load({ run, deps, invocation });
  const plan = stage.decide(loaded, { now: run.now(), options: invocation.options, maxItems: run.itemsLeft });
  for (const [key, value] of Object.entries(plan.counts ?? {})) run.count(key, value);
  const guarded = await guard(run, deps.run, plan.actions, clock);
  await executeActions(run, guarded.actions, stage.executors, deps, { fanOut: stage.fanOut?.(deps) });
  const message = [plan.message, guarded.message].filter((part) => part !== undefined && part !== '').join('; ');
  return { ...(message ? { message } : {}), ...(guarded.halted !== undefined ? { halted: guarded.halted } : {}) };
}

/** The scope with its deadline moved to `fraction` of the budget (the runs-table row keeps the whole). */
function stopEarly(scope: RunScope, budgetSeconds: number, fraction = 1): RunScope {
  if (fraction >= 1) return scope;
  const startedAt = scope.deadline.getTime() - budgetSeconds * 1000;
  return { ...scope, deadline: new Date(startedAt + budgetSeconds * 1000 * Math.max(0, fraction)) };
}
