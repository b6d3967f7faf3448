/*
 * A function whose load is a listing read a page at a time (oom-scan's pod scan), on the kernel:
 * each page is decided and executed before the next is read, so a run holds one page and costs
 * what it reads. Paging stops at the end of the listing, after `pagesPerRun` pages, once
 * `stopReadingAt` of the budget has passed (the rest is the following steps'), or as soon as an
 * action was deferred (maxItems or the deadline). `checkpoint` commits what a page achieved (a
 * durable cursor) only when nothing in the run has failed and nothing of the page was deferred,
 * never in a dry run. The `then` steps (e.g. the notices the pages made due) follow, each a load →
 * decide → execute of its own, with maxItems of their own. Every step shares the rest of the run:
 * the budget, the summary, the failures, the safety rails, and the inbox record an event run
 * commits with its first effect.
 */
import type { ZodType } from 'zod';
import type { Action, DecideContext, Plan, PlannedStep } from '../plan.js';
import type { LoadInput } from './define-function.js';
import { decideAndExecute, decideContext, finish } from './decide-and-execute.js';
import type { KernelDeps, KernelStep, StepOutcome } from './decide-and-execute.js';
import { deferredSoFar } from './deferred.js';
import type { ActionResult, Executors } from './execute.js';
import { defineHandler } from './invocation.js';
import type { BaseOptions, FunctionName, Invocation } from './invocation.js';
import { loadInput } from './define-function.js';
import type { KernelDefinition } from './define-function.js';
import { startRails } from './rails/guard.js';
import { Run } from './run.js';
import { runScoped } from './run-scope.js';

/** One load → decide → execute after the pages. */
export type Step<Options extends BaseOptions, D, Loaded, A extends Action, U = never> = {
  load(input: LoadInput<Options, D>): Promise<Loaded>;
} & KernelStep<Options, D, Loaded, A, U>;

/** A step with its own types erased, so steps of different kinds fit in one list. */
export type AnyStep<Options extends BaseOptions, D> = Step<Options, D, unknown, Action, unknown>;

export function defineStep<Options extends BaseOptions, D, Loaded, A extends Action, U = never>(
  step: Step<Options, D, Loaded, A, U>,
): AnyStep<Options, D> {
  return step as unknown as AnyStep<Options, D>;
}

export interface PagedShape<Options extends BaseOptions, D, Page, A extends Action> {
  name: FunctionName;
  optionsSchema: ZodType<Options, unknown>;
  /** Summary keys reported even when zero. */
  counters?: readonly string[];
  /** The first page (read-only I/O), or undefined when there is nothing to read. */
  load(input: LoadInput<Options, D>): Promise<Page | undefined>;
  /** The page after `page`, or undefined at the end of the listing. */
  next(input: LoadInput<Options, D>, page: Page): Promise<Page | undefined>;
  decide(page: Page, context: DecideContext<Options>): Plan<A>;
  executors: Executors<A, D>;
  /** Pages one run reads at most. */
  pagesPerRun(deps: D): number;
  /** No page is read once this share of the run's budget has passed (default 1). */
  stopReadingAt?: number;
  /** Commits what `page` achieved; its counters are added to the summary. */
  checkpoint?(run: Run, page: Page, deps: D): Promise<Pick<ActionResult, 'counters'>>;
  /** Steps after the pages, given the invocation (an event run may need other ones). */
  then?(invocation: Invocation<Options>, deps: D): readonly AnyStep<Options, D>[];
}

type Clock = Awaited<ReturnType<typeof startRails>>;

/** Why the paging stopped before the end of the listing: reported even when zero. */
const STOPS = ['stopped_at_deadline', 'stopped_at_max_items', 'stopped_at_page_budget'] as const;

/** What the pages and steps said so far; the steps do not start once a rail halted the run. */
type Outcome = StepOutcome;

export function definePagedFunction<Options extends BaseOptions, D extends KernelDeps, Page, A extends Action>(
  shape: PagedShape<Options, D, Page, A>,
): KernelDefinition<Options, D> {
  const definition = defineHandler<Options, D>({
    name: shape.name,
    optionsSchema: shape.optionsSchema,
    handle: (invocation, deps) =>
      runScoped(deps.run, shape.name, invocation, async (scope) => {
        const run = new Run(scope, deps.run, [...(shape.counters ?? []), ...STOPS]);
        const clock = await startRails(run, deps.run);
        const input = loadInput(run, deps, invocation);
        const outcome: Outcome = { messages: [] };
        await readPages(shape, run, input, clock, outcome);
        // The steps after the pages have maxItems of their own: what the pages did (oom-scan's
        // kills) must not starve what follows from it (their notices), nor the reverse.
        run.started = 0;
        for (const step of duplicate(run) || outcome.halted !== undefined
          ? []
          : (shape.then?.(invocation, deps) ?? [])) {
          const loaded = await step.load(loadInput(run, deps, invocation));
          await act(run, step, loaded, input, clock, outcome);
          if (duplicate(run)) break;
        }
        return finish(run, [outcome]);
      }),
  });
  return { ...definition, plan: (input) => planPaged(shape, input) };
}

/**
 * The pages up to the page budget, each decided as read, then the steps after them, each on the
 * data as it is now (what the pages would record is not there for them to see). Nothing executed.
 */
async function planPaged<Options extends BaseOptions, D extends KernelDeps, Page, A extends Action>(
  shape: PagedShape<Options, D, Page, A>,
  input: LoadInput<Options, D>,
): Promise<PlannedStep[]> {
  const context = () => decideContext(input.run, input.invocation.options);
  const pagesPerRun = shape.pagesPerRun(input.deps);
  const actions: Action[] = [];
  let read = 0;
  for (let page = await shape.load(input); page !== undefined; page = await shape.next(input, page)) {
    read += 1;
    actions.push(...shape.decide(page, context()).actions);
    if (read >= pagesPerRun) break;
  }
  const planned: PlannedStep[] = [
    { step: 'pages', actions, note: `${read} page(s) read (page budget ${pagesPerRun})` },
  ];
  for (const step of shape.then?.(input.invocation, input.deps) ?? [])
    planned.push({ step: 'after the pages', actions: step.decide(await step.load(input), context()).actions });
  return planned;
}

async function readPages<Options extends BaseOptions, D extends KernelDeps, Page, A extends Action>(
  shape: PagedShape<Options, D, Page, A>,
  run: Run,
  input: LoadInput<Options, D>,
  clock: Clock,
  outcome: Outcome,
): Promise<void> {
  const { budgetSeconds } = input.deps.run;
  const stopReadingAt = run.scope.deadline.getTime() - budgetSeconds * 1000 * (1 - (shape.stopReadingAt ?? 1));
  const pagesPerRun = shape.pagesPerRun(input.deps);
  let page = await shape.load(input);
  for (let read = 1; page !== undefined; read++) {
    const deferredBefore = deferredSoFar(run);
    await act(run, shape, page, input, clock, outcome);
    if (duplicate(run) || outcome.halted !== undefined) return;
    if (deferredSoFar(run) > deferredBefore)
      return run.count(run.itemsLeft <= 0 ? 'stopped_at_max_items' : 'stopped_at_deadline');
    if (shape.checkpoint && !run.scope.dryRun && run.failures.length === 0) {
      for (const counter of (await shape.checkpoint(run, page, input.deps)).counters ?? []) run.count(counter);
    }
    if (read >= pagesPerRun) return run.count('stopped_at_page_budget');
    if (run.now().getTime() >= stopReadingAt) return run.count('stopped_at_deadline');
    page = await shape.next(loadInput(run, input.deps, input.invocation), page);
  }
}

async function act<Options extends BaseOptions, D extends KernelDeps, Loaded, A extends Action>(
  run: Run,
  step: KernelStep<Options, D, Loaded, A, unknown>,
  loaded: Loaded,
  input: LoadInput<Options, D>,
  clock: Clock,
  outcome: Outcome,
): Promise<void> {
  const acted = await decideAndExecute(run, step, loaded, input.deps, input.invocation.options, clock);
  outcome.messages.push(...acted.messages);
  if (acted.halted !== undefined) outcome.halted = acted.halted;
}

/** A duplicate delivery was done in full by the run that recorded it: nothing more to do. */
const duplicate = (run: Run): boolean => (run.summary.duplicate_events ?? 0) > 0;
