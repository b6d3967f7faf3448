/* snapshot-sync's entry: the invocation contract over runScoped and the run. */
import type { Deps } from '../../shared/deps.js';
import { Invalid } from '../../shared/errors.js';
import { EventTypes } from '../../shared/events/types.js';
import { baseOptionsSchema, defineFunction } from '../../shared/runtime/invocation.js';
import type { BaseOptions, Invocation } from '../../shared/runtime/invocation.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import { runSnapshotSync } from './run.js';
import type { PodCleaned } from './shutdown.js';

type SnapshotSyncOptions = BaseOptions;

function podCleanedOf(invocation: Invocation<SnapshotSyncOptions>): PodCleaned | undefined {
  if (invocation.kind !== 'event') return undefined;
  const { event } = invocation;
  // The routing table only sends pod.cleaned here, and the endpoint refuses anything else; an event
  // run must never turn into a full sweep.
  if (event.type !== EventTypes.podCleaned) throw new Invalid(`snapshot-sync does not consume ${event.type}`, [{ field: 'type', message: 'not consumed by snapshot-sync' }]);
  return event.data;
}

export const snapshotSync = defineFunction<SnapshotSyncOptions, Deps>({
  name: 'snapshot-sync',
  optionsSchema: baseOptionsSchema,
  handle: (invocation, deps) =>
    runScoped(deps.run, 'snapshot-sync', invocation, (scope) => runSnapshotSync(scope, deps, podCleanedOf(invocation))),
});
