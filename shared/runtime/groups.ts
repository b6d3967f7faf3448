/*
 * Pacing for a set-based executor that works through its batch in groups (cleanup-pod advances
 * its teardowns step by step, 50 at a time): no group starts after GROUP_START_FRACTION of the
 * run's remaining time, so the group in flight and the run's tail (its last commits, a Lambda
 * call, delivering the events it staged) still end inside the budget. A group may also wait for a
 * moment (a pod's grace period) when a group started then could still start.
 */
import type { Clock } from '../clock.js';
import type { Run } from './run.js';

const GROUP_START_FRACTION = 0.8;

export interface GroupPace {
  /** Whether another group may start now. */
  mayStart(): boolean;
  /** Whether a group could still start at `at`, a moment to come (nothing waits for it). */
  mayStartAt(at: Date): boolean;
  /**
   * Wait, by the run's clock, until `at`: true once there. False at once when a group could not
   * start at `at`, or when the clock cannot be waited on (a manual clock: only its test moves it).
   */
  waitUntil(at: Date): Promise<boolean>;
}

/** Call when the grouped work starts: the stop point is measured from then to the deadline. */
export function groupPace(run: Run, clock: Clock): GroupPace {
  const start = run.now().getTime();
  const stopAt = start + (run.scope.deadline.getTime() - start) * GROUP_START_FRACTION;
  return {
    mayStart: () => run.now().getTime() < stopAt,
    mayStartAt: (at) => at.getTime() < stopAt,
    waitUntil: async (at) => {
      if (!clock.waitUntil || at.getTime() >= stopAt) return false;
      if (run.now() < at) await clock.waitUntil(at);
      return run.now().getTime() < stopAt;
    },
  };
}
