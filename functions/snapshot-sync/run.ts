/*
 * One snapshot-sync run. An event run makes the shutdown snapshot the pod.cleaned event asks for;
 * a scheduled or manual run does every stage, most urgent first, and starts no stage after 80% of
 * the run's budget: a user's work into a snapshot, the origin's leftover pending snapshots, polling, the
 * volume after its snapshot, then the tagging and deletion of old snapshots.
 */
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { SyncContext } from './context.js';
import type { SyncDeps } from './context.js';
import { deleteSnapshots } from './deletions.js';
import { reconcileOriginPending } from './origin-pending.js';
import { pollPending } from './poll.js';
import { syncShutdowns } from './shutdown.js';
import type { PodCleaned } from './shutdown.js';
import { tagSoftDeletedDisks } from './soft-delete.js';
import { deleteSnapshottedVolumes } from './volumes.js';

const STAGES: [string, (ctx: SyncContext) => Promise<void>][] = [
  ['shutdown-snapshots', (ctx) => syncShutdowns(ctx)],
  ['reconcile-origin-pending', reconcileOriginPending],
  ['poll-pending', pollPending],
  ['delete-volumes', deleteSnapshottedVolumes],
  ['tag-soft-deleted', tagSoftDeletedDisks],
  ['delete-snapshots', deleteSnapshots],
];

export async function runSnapshotSync(scope: RunScope, deps: SyncDeps, event?: PodCleaned): Promise<RunReport> {
  const ctx = new SyncContext(scope, deps);
  const stages: typeof STAGES = event ? [['shutdown-snapshots', (c) => syncShutdowns(c, event)]] : STAGES;
  for (const [name, stage] of stages) {
    if (ctx.pastStop()) {
      ctx.count('stages_deferred');
      continue;
    }
    // A stage that fails (the database, say) is reported; the stages after it still run.
    await stage(ctx).catch((err: unknown) => ctx.fail('stage', name, err));
  }
  return ctx.report();
}
