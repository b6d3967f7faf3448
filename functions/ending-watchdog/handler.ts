/* ending-watchdog's entry: every trigger runs the same selection; it consumes no events. */
import { defineFunction } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { watchdogOptionsSchema } from './options.js';
import type { WatchdogOptions } from './options.js';
import { watchdogRun } from './run.js';
import type { WatchdogDeps } from './run.js';

export const endingWatchdog = defineFunction<WatchdogOptions, WatchdogDeps & { run: RunServices }>({
  name: 'ending-watchdog',
  optionsSchema: watchdogOptionsSchema,
  handle: (invocation, deps) => runScoped(deps.run, 'ending-watchdog', invocation, (scope) => watchdogRun(scope, deps, invocation.options)),
});
