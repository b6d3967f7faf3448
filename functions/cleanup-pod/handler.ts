/*
 * cleanup-pod on the run kernel: an ended-reservation event tears that one down; a schedule tick
 * sweeps the due teardowns and the ended reservations whose event was lost.
 */
import { defineFunction } from '../../shared/runtime/define-function.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import { decideTeardowns } from './decide.js';
import { SWEEP_SIZE, executeTeardowns } from './execute.js';
import { loadTeardowns } from './load.js';

export const cleanupPod = defineFunction({
  name: 'cleanup-pod',
  optionsSchema: baseOptionsSchema,
  counters: ['started', 'claimed', 'resources_deleted', 'pods_gone', 'cleaned', 'disks_released', 'retrying'],
  load: loadTeardowns,
  decide: decideTeardowns,
  batch: { size: SWEEP_SIZE, execute: executeTeardowns },
});
