/*
 * A snapshot finished: its state change, the disk's snapshot counts for that snapshot id (once) and, for a
 * completion, its snapshot.completed event, in one commit (the origin counted any completed
 * snapshot it saw against any disk with something pending, A-10).
 */
import { countSnapshotFinished } from '../../../shared/db/queries/disks.js';
import { finishSnapshot } from '../../../shared/db/queries/snapshots.js';
import type { Finish, FinishedRow } from '../../../shared/db/queries/snapshots.js';
import type { Db } from '../../../shared/db/pool.js';
import { buildEvent, sourceFor } from '../../../shared/events/build.js';
import type { LifecycleEvent } from '../../../shared/events/build.js';
import { EventTypes } from '../../../shared/events/types.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { SyncDeps } from '../ec2-calls.js';
import type { PollStep } from './decide.js';

export const pollExecutors: Executors<PollStep, SyncDeps> = { 'completed-snapshot': finish, 'error-snapshot': finish };

async function finish(run: Run, step: PollStep, deps: SyncDeps): Promise<ActionResult> {
  const { rule } = step;
  const change: Finish =
    rule.kind === 'complete'
      ? { state: 'completed', sizeGb: rule.snapshot.sizeGb }
      : { state: 'error', note: rule.reason };
  const finished = await run.commit(async (db) => {
    const row = await finishSnapshot(db, rule.rowId, change, run.now());
    const events = row ? await recordFinished(db, row, change, run.now()) : [];
    const decision = {
      entityKind: 'snapshot' as const,
      entityId: step.snapshotId,
      action: step.kind,
      reason: rule.reason,
      outcome: row ? ('applied' as const) : ('conflict' as const),
    };
    return { value: row !== undefined, decisions: [decision], events };
  });
  if (!finished) return { outcome: 'conflict', metrics: [] };
  deps.metrics.snapshots.inc({ state: change.state });
  return { outcome: 'applied', counters: [change.state === 'completed' ? 'snapshots_completed' : 'snapshots_failed'] };
}

async function recordFinished(db: Db, row: FinishedRow, change: Finish, now: Date): Promise<LifecycleEvent[]> {
  const completed = change.state === 'completed';
  const sizeGb = completed && change.sizeGb > 0 ? change.sizeGb : null;
  if (row.disk_id)
    await countSnapshotFinished(db, row.disk_id, { wasCounted: row.was_counted, completed, sizeGb, at: now });
  if (!completed) return [];
  const data = {
    snapshotId: row.snapshot_id,
    volumeId: row.volume_id,
    reservationId: row.reservation_id,
    diskName: row.disk_name,
    sizeGb,
    completedAt: now.toISOString(),
  };
  return [
    buildEvent(EventTypes.snapshotCompleted, data, {
      source: sourceFor('snapshot-sync'),
      subject: row.reservation_id ?? row.snapshot_id,
      time: now,
    }),
  ];
}
