/*
 * What a pure `decide` returns: actions, each with its reason and the inputs it rested on, in the
 * order they should run. Types only, so decide.ts files can use them without importing I/O.
 */
import type { EntityKind } from './db/queries/decisions.js';

type JsonScalar = string | number | boolean | null;
export type Item = Record<string, JsonScalar>;

/** One decided action: what, on which entity, why, and the inputs the decision rested on. */
export interface Action {
  kind: string;
  entity: { kind: EntityKind; id: string };
  reason: string;
  inputs?: Record<string, unknown>;
  /** What a dry run lists for this action (people's ids masked by the function's decide). */
  item?: Item;
  /**
   * Ends, deletes or fails something an owner would miss. The kernel's safety rails (the breaker,
   * clock sanity) count and may withhold these; others run whatever the rails say.
   */
  destructive?: boolean;
}

export interface DecideContext<Options> {
  now: Date;
  options: Options;
  maxItems: number;
}

/**
 * What one step of a run decided, executing nothing (a policy preview): the step (a stage's name),
 * its actions, and a note on what was read (e.g. the pages of a paged scan).
 */
export interface PlannedStep {
  step?: string;
  actions: Action[];
  note?: string;
}

/** The actions in the order they should run, and counts of what decide saw. */
export interface Plan<A extends Action, U = never> {
  actions: A[];
  /**
   * Upkeep: writes that go with what the run read (e.g. the pod observations it made), not items
   * of work. Never cut by maxItems nor listed by a dry run (which writes nothing); handed to the
   * batch executor with the first batch, or alone when there is no action.
   */
  upkeep?: U[];
  counts?: Record<string, number>;
  /**
   * Work decide knows is due but load did not read (its reads stop at maxItems): the kernel counts
   * it as deferred, with the actions it does not start.
   */
  backlog?: number;
  message?: string;
}
