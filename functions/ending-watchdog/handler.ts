/* ending-watchdog: every trigger runs the same selection; it consumes no events. */
import { defineFunction } from '../../shared/runtime/define-function.js';
import { decideWatchdog } from './decide.js';
import { watchdogExecutors } from './execute.js';
import { loadWatchdog } from './load.js';
import { watchdogOptionsSchema } from './options.js';

export const endingWatchdog = defineFunction({
  name: 'ending-watchdog',
  optionsSchema: watchdogOptionsSchema,
  counters: ['selected', 'claimed', 'finished', 'failed', 'unknown', 'conflicts'],
  load: loadWatchdog,
  decide: decideWatchdog,
  executors: watchdogExecutors,
});
