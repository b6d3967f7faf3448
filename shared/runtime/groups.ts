/*
 * Pacing for a set-based executor that works through its batch in groups (cleanup-pod advances
 * its teardowns step by step, 50 at a time): no group starts after GROUP_START_FRACTION of the
 * run's remaining time, so the group in flight and the run's tail (its last commits, a Lambda
 * call, delivering the events it staged) still end inside the budget. A group may also wait for a
 * moment (a pod's grace period) when a group started then could still start.
 *
 * The pace also learns how long groups take in this run (`timed`): when the API answers slowly
 * (a large fleet, a loaded server) one group can outlast the whole reserve after the stop point,
 * so a group started just before it would end past the deadline. Once a group has been timed, a
 * group starts only if the slowest so far, started now, would end by the middle of the reserve.
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
  /** Run one group, timing it by the run's clock: the slowest group so far bounds when others start. */
  timed<T>(group: () => Promise<T>): Promise<T>;
}

/** Call when the grouped work starts: the stop point is measured from then to the deadline. */
export function groupPace(run: Run, clock: Clock): GroupPace {
  const start = run.now().getTime();
  const deadline = run.scope.deadline.getTime();
  const stopAt = start + (deadline - start) * GROUP_START_FRACTION;
  // WHY half the reserve: the reserve after the stop point holds the group in flight and the run's
  // tail. Untimed, the group in flight may take all of it; timed, the slowest group must end by the
  // reserve's middle, so the tail (which moves as many objects as a group at most) keeps the other
  // half. Fast groups end well inside that half, so for them the 80% stop point alone decides; the
  // first group, with nothing timed yet, always may start before the stop point.
  const groupsEndBy = deadline - (deadline - stopAt) / 2;
  let slowestGroupMs = 0;
  const mayStartAt = (at: number) => at < stopAt && at + slowestGroupMs <= groupsEndBy;
  return {
    mayStart: () => mayStartAt(run.now().getTime()),
    mayStartAt: (at) => mayStartAt(at.getTime()),
    waitUntil: async (at) => {
      if (!clock.waitUntil || !mayStartAt(at.getTime())) return false;
      if (run.now() < at) await clock.waitUntil(at);
      return mayStartAt(run.now().getTime());
    },
    timed: async (group) => {
      const began = run.now().getTime();
      try {
        return await group();
      } finally {
        slowestGroupMs = Math.max(slowestGroupMs, run.now().getTime() - began);
      }
    },
  };
}
