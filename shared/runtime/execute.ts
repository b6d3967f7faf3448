/*
 * What a function's `execute` is to the kernel: one executor per action kind (or one set-based
 * executor for batches of actions), and the result each action reports back. The kernel
 * (decide-and-execute.ts) runs them: it alone knows about dry run, maxItems, the time budget,
 * counters and action metrics.
 */
import type { Action } from '../plan.js';
import type { Run } from './run.js';

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
  /**
   * The action was taken up but left unfinished for a later run (its share of the budget ran
   * out): the kernel counts it as deferred, as it does the actions it never started.
   */
  unfinished?: true;
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
