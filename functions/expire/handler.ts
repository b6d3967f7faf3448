/* expire: a schedule tick or a manual call sweeps; a pod-change event takes the fast path (load.ts). */
import { defineFunction } from '../../shared/runtime/define-function.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import { decideExpire } from './decide.js';
import { BATCH_SIZE, executeExpire } from './execute.js';
import { loadExpire } from './load.js';

export const expire = defineFunction({
  name: 'expire',
  optionsSchema: baseOptionsSchema,
  counters: [
    'expired',
    'expired_pod_gone',
    'failed_dead_pod',
    'failed_stuck_preparing',
    'stale_cancelled',
    'conflicts',
  ],
  load: loadExpire,
  decide: decideExpire,
  batch: { size: BATCH_SIZE, execute: executeExpire },
  // Its upkeep is the pod sightings: recorded in shadow mode too, so shadow decides pod-gone ends.
  upkeepObservesOnly: true,
});
