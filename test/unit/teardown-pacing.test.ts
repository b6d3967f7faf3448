/*
 * The kernel's pacing for grouped executors (shared/runtime/groups.ts), which cleanup-pod's sweep
 * uses: no group starts after 80% of the run's time, and a wait (for a pod's grace period) happens
 * only on a clock that can be waited on and only until a moment when a group could still start;
 * once a group has been timed, a group starts only if the slowest so far would end by the middle of
 * the 20% reserve.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import type { Clock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { groupPace } from '../../shared/runtime/groups.js';
import { Run } from '../../shared/runtime/run.js';
import type { RunScope } from '../../shared/runtime/run-scope.js';

const START = new Date('2026-06-01T12:00:00Z');
const log = createLogger({
  level: 'silent',
  hashSalt: 's',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

function runOn(clock: Clock, budgetSeconds = 50): Run {
  const scope: RunScope = {
    runId: 'run',
    fn: 'cleanup-pod',
    log,
    dryRun: false,
    maxItems: 10,
    deadline: new Date(START.getTime() + budgetSeconds * 1000),
    now: () => clock.now(),
    stage: async () => {},
    outboxRecords: () => undefined,
    staged: () => undefined,
    claimEvent: async () => true,
    claimCommitted: () => undefined,
  };
  return new Run(scope, { pool: undefined as never, metrics: createMetrics() });
}

/** A manual clock that a wait moves, as time would. */
function waitableClock(): ManualClock & Required<Pick<Clock, 'waitUntil'>> {
  return Object.assign(new ManualClock(START), {
    async waitUntil(this: ManualClock, at: Date) {
      this.set(at);
    },
  });
}

describe('group pacing', () => {
  it('lets groups start until 80% of the run, not after', () => {
    const clock = new ManualClock(START);
    const pace = groupPace(runOn(clock), clock);
    clock.advanceSeconds(39.9);
    expect(pace.mayStart()).toBe(true);
    clock.advanceSeconds(0.1);
    expect(pace.mayStart()).toBe(false);
  });

  it('measures the 80% from when the grouped work starts', () => {
    const clock = new ManualClock(START);
    const run = runOn(clock);
    clock.advanceSeconds(10);
    const pace = groupPace(run, clock);
    clock.advanceSeconds(31.9); // 41.9 s: 31.9 of the 40 s left is under 80%
    expect(pace.mayStart()).toBe(true);
    clock.advanceSeconds(0.1);
    expect(pace.mayStart()).toBe(false);
  });

  it('waits on a clock that can be waited on, until a moment a group can still start', async () => {
    const clock = waitableClock();
    const pace = groupPace(runOn(clock), clock);
    expect(await pace.waitUntil(new Date(START.getTime() + 32_000))).toBe(true);
    expect(clock.now().getTime() - START.getTime()).toBe(32_000);
    expect(pace.mayStart()).toBe(true);
  });

  it('does not wait past the stop point, nor on a clock nobody moves during a run', async () => {
    const clock = waitableClock();
    const pace = groupPace(runOn(clock), clock);
    expect(await pace.waitUntil(new Date(START.getTime() + 40_000))).toBe(false);
    expect(clock.now()).toEqual(START);
    const manual = new ManualClock(START);
    expect(await groupPace(runOn(manual), manual).waitUntil(new Date(START.getTime() + 1_000))).toBe(false);
    expect(manual.now()).toEqual(START);
  });

  /** A group the pace times, taking `seconds` of the manual clock. */
  const groupTaking = (clock: ManualClock, seconds: number) => async () => {
    clock.advanceSeconds(seconds);
    return seconds;
  };

  it('keeps the 80% stop point while groups are fast', async () => {
    const clock = new ManualClock(START);
    const pace = groupPace(runOn(clock), clock);
    for (let i = 0; i < 39; i++) expect(await pace.timed(groupTaking(clock, 1))).toBe(1);
    clock.advanceSeconds(0.9); // 39.9 s: a 1 s group would end at 40.9 s, far inside the 45 s mark
    expect(pace.mayStart()).toBe(true);
    expect(pace.mayStartAt(new Date(START.getTime() + 39_950))).toBe(true);
    clock.advanceSeconds(0.1);
    expect(pace.mayStart()).toBe(false);
  });

  it('after a slow group, starts none that the slowest would carry past the middle of the reserve', async () => {
    const clock = waitableClock();
    const pace = groupPace(runOn(clock), clock);
    await pace.timed(groupTaking(clock, 1));
    await pace.timed(groupTaking(clock, 12)); // 13 s; the slowest now takes 12 s, and must end by 45 s
    expect(await pace.timed(groupTaking(clock, 2))).toBe(2); // a faster one does not lower the bar
    clock.set(new Date(START.getTime() + 33_000)); // 33 + 12 = 45 s: still inside
    expect(pace.mayStart()).toBe(true);
    expect(pace.mayStartAt(new Date(START.getTime() + 33_001))).toBe(false);
    expect(await pace.waitUntil(new Date(START.getTime() + 34_000))).toBe(false);
    expect(clock.now().getTime() - START.getTime()).toBe(33_000);
    clock.advanceSeconds(0.001);
    expect(pace.mayStart()).toBe(false);
  });

  it('times a group that fails too', async () => {
    const clock = new ManualClock(START);
    const pace = groupPace(runOn(clock), clock);
    const failing = async () => {
      clock.advanceSeconds(20);
      throw new Error('API unreachable');
    };
    await expect(pace.timed(failing)).rejects.toThrow('API unreachable');
    clock.advanceSeconds(5.1); // 25.1 + 20 s > 45 s
    expect(pace.mayStart()).toBe(false);
  });

  it('always lets the first group start before the stop point, however short the budget', () => {
    const clock = new ManualClock(START);
    const pace = groupPace(runOn(clock, 1), clock);
    clock.advanceSeconds(0.799);
    expect(pace.mayStart()).toBe(true);
  });
});
