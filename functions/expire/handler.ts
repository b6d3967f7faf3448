/* expire's entry: a schedule tick or a manual call sweeps; a pod-change event takes the fast path. */
import { baseOptionsSchema, defineFunction } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { onPodEvent } from './on-pod-event.js';
import { sweep } from './run.js';
import type { ExpireDeps } from './run.js';

export const expire = defineFunction<BaseOptions, ExpireDeps & { run: RunServices }>({
  name: 'expire',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, deps) =>
    runScoped(deps.run, 'expire', invocation, (scope) =>
      invocation.kind === 'event' ? onPodEvent(scope, deps, invocation.event) : sweep(scope, deps),
    ),
});
