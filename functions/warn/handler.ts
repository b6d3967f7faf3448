/* warn: every trigger runs the same sweep; warn consumes no events. */
import { defineFunction } from '../../shared/runtime/define-function.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import { decideWarn } from './decide.js';
import { batchSize, executeWarn } from './execute.js';
import { loadWarn } from './load.js';

export const warn = defineFunction({
  name: 'warn',
  optionsSchema: baseOptionsSchema,
  counters: [
    'warned',
    'warn_failed',
    'skipped_no_pod',
    'pod_missing',
    'pod_mismatch',
    'claimed_elsewhere',
    'redelivered',
  ],
  load: loadWarn,
  decide: decideWarn,
  batch: { size: batchSize, execute: executeWarn },
});
