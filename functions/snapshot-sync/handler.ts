/* snapshot-sync's entry: the invocation contract over runScoped and the run. */
import type { Deps } from '../../shared/deps.js';
import { EventTypes } from '../../shared/events/types.js';
import { baseOptionsSchema, defineFunction } from '../../shared/runtime/invocation.js';
import type { BaseOptions, Invocation } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import { runSnapshotSync } from './run.js';
import type { PodCleaned } from './shutdown.js';

export type SnapshotSyncOptions = BaseOptions;

function podCleanedOf(invocation: Invocation<SnapshotSyncOptions>): PodCleaned | undefined {
  if (invocation.kind !== 'event') return undefined;
  const { event } = invocation;
  // The routing table only sends pod.cleaned here; anything else is refused before `handle`.
  return event.type === EventTypes.podCleaned ? event.data : undefined;
}

export const snapshotSync = defineFunction<SnapshotSyncOptions, Deps>({
  name: 'snapshot-sync',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, deps) =>
    runScoped(deps.run, 'snapshot-sync', invocation, (scope) => runSnapshotSync(scope, deps, podCleanedOf(invocation))),
});
