/* ending-watchdog: every trigger runs the same selection; it consumes no events; labs go in batches (execute.ts). */
import { defineFunction } from '../../shared/runtime/define-function.js';
import { decideWatchdog } from './decide.js';
import { BATCH_SIZE, executeWatchdog } from './execute.js';
import { loadWatchdog } from './load.js';
import { watchdogOptionsSchema } from './options.js';

export const endingWatchdog = defineFunction({
  name: 'ending-watchdog',
  optionsSchema: watchdogOptionsSchema,
  counters: ['selected', 'claimed', 'finished', 'failed', 'unknown', 'conflicts'],
  load: loadWatchdog,
  decide: decideWatchdog,
  batch: { size: BATCH_SIZE, execute: executeWatchdog },
});
