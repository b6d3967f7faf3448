/*
 * snapshot-sync on the run kernel, in stages that share one run. An event run (pod.cleaned) makes
 * the shutdown snapshot the event asks for; a scheduled or manual run does every stage, most urgent
 * first: a user's work into a snapshot, the origin's leftover pending snapshots, polling, the volume
 * after its snapshot, the tagging of soft-deleted disks' snapshots, then snapshot deletions. Nothing
 * starts after 80% of the run's time, so what is under way, and the outbox delivery, end inside it.
 */
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import { defineStage, defineStagedFunction } from '../../shared/runtime/stages.js';
import { decideDeletionStage } from './deletions/decide.js';
import { deletionExecutors } from './deletions/execute.js';
import { loadDeletions } from './deletions/load.js';
import { decideRetentionChecked, loadRetentionCount } from './deletions/retention-checked.js';
import { fanOut } from './ec2-calls.js';
import type { SyncDeps } from './ec2-calls.js';
import { decideOriginStage } from './origin/decide.js';
import { originExecutors } from './origin/execute.js';
import { loadOrigin } from './origin/load.js';
import { decidePollStage } from './poll/decide.js';
import { pollExecutors } from './poll/execute.js';
import { loadPolls } from './poll/load.js';
import { decideShutdownStage } from './shutdown/decide.js';
import { shutdownExecutors } from './shutdown/execute.js';
import { loadShutdowns } from './shutdown/load.js';
import { decideSoftDeleteStage } from './soft-delete/decide.js';
import { softDeleteExecutors } from './soft-delete/execute.js';
import { loadSoftDeleted } from './soft-delete/load.js';
import { decideVolumeStage } from './volumes/decide.js';
import { writeSyncUpkeep } from './upkeep.js';
import { volumeExecutors } from './volumes/execute.js';
import { loadVolumes } from './volumes/load.js';

const shutdown = defineStage({
  name: 'shutdown-snapshots',
  load: loadShutdowns,
  decide: decideShutdownStage,
  executors: shutdownExecutors,
  upkeep: writeSyncUpkeep,
  fanOut,
});

const SWEEP = [
  shutdown,
  defineStage({
    name: 'reconcile-origin-pending',
    load: loadOrigin,
    decide: decideOriginStage,
    executors: originExecutors,
    upkeep: writeSyncUpkeep,
    fanOut,
  }),
  defineStage({ name: 'poll-pending', load: loadPolls, decide: decidePollStage, executors: pollExecutors, fanOut }),
  defineStage({
    name: 'delete-volumes',
    load: loadVolumes,
    decide: decideVolumeStage,
    executors: volumeExecutors,
    upkeep: writeSyncUpkeep,
    fanOut,
  }),
  defineStage({
    name: 'tag-soft-deleted',
    load: loadSoftDeleted,
    decide: decideSoftDeleteStage,
    executors: softDeleteExecutors,
    fanOut,
  }),
  defineStage({
    name: 'delete-snapshots',
    load: loadDeletions,
    decide: decideDeletionStage,
    executors: deletionExecutors,
    fanOut,
  }),
  defineStage({
    name: 'retention-checked',
    load: loadRetentionCount,
    decide: decideRetentionChecked,
    executors: {},
    upkeep: writeSyncUpkeep,
  }),
];

export const snapshotSync = defineStagedFunction<typeof baseOptionsSchema._output, SyncDeps>({
  name: 'snapshot-sync',
  optionsSchema: baseOptionsSchema,
  // Reported even when zero, so dashboards see zeros rather than gaps.
  counters: [
    'snapshots_created',
    'snapshots_completed',
    'snapshots_failed',
    'volumes_deleted',
    'volumes_kept',
    'volumes_gone',
    'volumes_held',
    'deleted_snapshots',
    'tagged_snapshots',
    'synced_disks',
    'waits_overdue',
  ],
  stages: (invocation) => (invocation.kind === 'event' ? [shutdown] : SWEEP),
  stopAtBudgetFraction: 0.8,
});
