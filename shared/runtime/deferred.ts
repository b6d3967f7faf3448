/*
 * `deferred`: work a run left for a later run because of maxItems or the time budget. The kernel's
 * concept, not a function's: the kernel counts it (actions it did not start, actions an executor
 * left unfinished, and the backlog a decide knew of but that load did not read) and every
 * single-stage function reports it, zero included.
 */
import type { Run } from './run.js';

export const DEFERRED = 'deferred';

export function defer(run: Run, by = 1): void {
  run.count(DEFERRED, by);
}

/** What the run has deferred so far (a paged scan stops reading once a page deferred anything). */
export function deferredSoFar(run: Run): number {
  return run.summary[DEFERRED] ?? 0;
}
