/*
 * A clock for cleanup-pod's read backs that can be waited on, as the system clock can: waiting
 * moves it and the simulated kubelet finishes the pods whose grace ended. When told, the clock also
 * moves before a delete call, so groups of teardowns deleted one after the other have grace periods
 * that end apart and are read back in waves.
 */
import { afterEach, beforeEach } from 'vitest';
import type { FunctionHarness } from '../support/function-harness.js';

export interface GraceClock {
  /** The moments the run waited for, in order. */
  waits: Date[];
  /** Seconds the clock moves before each delete call (one per group of 50), in order; 0 past the end. */
  secondsBeforeDeletes: number[];
}

/** Register with the harness's hooks: every test starts with no waits and no moves before deletes. */
export function useGraceClock(h: FunctionHarness): GraceClock {
  const clock: GraceClock = { waits: [], secondsBeforeDeletes: [] };
  let deleteOwnedMany: typeof h.deps.resources.deleteOwnedMany;
  beforeEach(() => {
    deleteOwnedMany = h.deps.resources.deleteOwnedMany;
    clock.waits.length = 0;
    clock.secondsBeforeDeletes.length = 0;
    Object.assign(h.clock, {
      waitUntil: async (at: Date) => {
        clock.waits.push(at);
        h.clock.set(at);
        h.sim.kube.tick();
      },
    });
    h.deps.resources.deleteOwnedMany = (...args) => {
      h.clock.advanceSeconds(clock.secondsBeforeDeletes.shift() ?? 0);
      return deleteOwnedMany.apply(h.deps.resources, args);
    };
  });
  afterEach(() => {
    delete (h.clock as { waitUntil?: unknown }).waitUntil;
    h.deps.resources.deleteOwnedMany = deleteOwnedMany;
  });
  return clock;
}
