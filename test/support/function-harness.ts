/*
 * Everything a function needs for an integration test: a real database (this file's copy), the
 * simulated cluster and AWS over HTTP, the real clients pointed at them, a manual clock, and a way
 * to invoke a function exactly as the runtime does (schedule tick, manual call or event). The
 * testkit's world (use-world.ts) with the settings a function's own tests share.
 */
import type { Deps } from '../../shared/deps.js';
import type { ManualClock } from '../../shared/clock.js';
import type { Sim } from '../../sim/server.js';
import type { TestDatabaseOptions } from './database.js';
import { useWorld } from './use-world.js';
import type { Invokers } from './world.js';

export interface FunctionHarness extends Invokers {
  deps: Deps;
  sim: Sim;
  clock: ManualClock;
}

export function useFunctionHarness(
  env: Record<string, string> | (() => Record<string, string>) = {},
  database?: TestDatabaseOptions,
): FunctionHarness {
  return useWorld({
    ...(database && { database }),
    env: () => ({
      // Tests of a function's own rules end far more than 20% of their small fleets in one run; the
      // blast-radius breaker has its own tests (rails-breaker), which set its limits.
      BREAKER_MIN_ACTIONS: '100000',
      // The manual clock keeps a time of its own on purpose: clock sanity off, except in its own tests.
      CLOCK_SKEW_MAX_SECONDS: '0',
      ...(typeof env === 'function' ? env() : env),
    }),
  });
}
