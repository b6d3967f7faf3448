/* oom-scan's entry: a schedule tick or a manual call scans; a pod-change event checks that pod. */
import { summarizePod } from '../../shared/kube/pod-summary.js';
import type { PodLike } from '../../shared/kube/pod-summary.js';
import { baseOptionsSchema, defineFunction } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { podEventRun, scanRun } from './run.js';
import type { OomDeps } from './run.js';

export const oomScan = defineFunction<BaseOptions, OomDeps & { run: RunServices }>({
  name: 'oom-scan',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, deps) =>
    runScoped(deps.run, 'oom-scan', invocation, async (scope) => {
      if (invocation.kind !== 'event') return scanRun(scope, deps);
      // Kills are keyed, so a duplicate event could not double-count; the inbox still answers it cheaply.
      if (!(await scope.claimEvent(deps.pool))) return { summary: { duplicate_events: 1 }, failures: [] };
      return podEventRun(scope, deps, summarizePod(invocation.event.data as PodLike));
    }),
});
