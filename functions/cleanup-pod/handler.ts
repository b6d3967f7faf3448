/* cleanup-pod's entry: an ended-reservation event tears that one down; a schedule tick sweeps. */
import { baseOptionsSchema, defineFunction } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { cleanupRun } from './run.js';
import type { CleanupDeps } from './run.js';

export const cleanupPod = defineFunction<BaseOptions, CleanupDeps & { run: RunServices }>({
  name: 'cleanup-pod',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, deps) =>
    runScoped(deps.run, 'cleanup-pod', invocation, async (scope) => {
      if (invocation.kind !== 'event') return cleanupRun(scope, deps);
      if (!(await scope.claimEvent(deps.pool))) return { summary: { duplicate_events: 1 }, failures: [] };
      return cleanupRun(scope, deps, [invocation.event.subject ?? '']);
    }),
});
