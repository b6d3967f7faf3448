/*
 * Deleting one snapshot: `deleting` is written first with its decision (compare-and-set from
 * completed), then DeleteSnapshot, then `deleted` with its snapshot.deleted event. A run that stops
 * in between leaves a `deleting` row, which the next run finishes; NotFound means it is already
 * done. EC2's refusal (Conflict: in use by an image, say) puts the row back to completed.
 */
import { markDeleted, markDeleting, revertDeleting } from '../../../shared/db/queries/snapshots.js';
import type { DeletedRow } from '../../../shared/db/queries/snapshots.js';
import { Conflict, NotFound, coerceError } from '../../../shared/errors.js';
import { buildEvent, sourceFor } from '../../../shared/events/build.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import { EventTypes } from '../../../shared/events/types.js';
import type { Run } from '../../../shared/runtime/run.js';
import { ec2Call } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import type { DeletionStep } from './decide.js';

type Step<K extends DeletionStep['kind']> = Extract<DeletionStep, { kind: K }>;

export const deletionExecutors: Executors<DeletionStep, SyncDeps> = {
  'finish-deletion': (run, step, deps) => finishDeletion(run, deps, step.row.id, step.row.snapshot_id),
  'delete-snapshot': deleteSnapshot,
  'forget-snapshot': forget,
};

async function deleteSnapshot(run: Run, step: Step<'delete-snapshot'>, deps: SyncDeps): Promise<ActionResult> {
  const { rowId, snapshotId } = step.rule;
  const marked = await run.commit(async (db) => {
    const done = await markDeleting(db, rowId, run.now());
    const decision = {
      entityKind: 'snapshot' as const,
      entityId: snapshotId,
      action: step.kind,
      reason: step.reason,
      inputs: step.inputs,
      outcome: done ? ('applied' as const) : ('conflict' as const),
    };
    return { value: done, decisions: [decision] };
  });
  if (!marked) return { outcome: 'conflict', metrics: ['skipped'] };
  return finishDeletion(run, deps, rowId, snapshotId);
}

/** DeleteSnapshot for a row already marked `deleting`, then `deleted` with its event. */
async function finishDeletion(run: Run, deps: SyncDeps, rowId: string, snapshotId: string): Promise<ActionResult> {
  try {
    await ec2Call(deps, (signal) => deps.ec2.deleteSnapshot(snapshotId, signal));
  } catch (err) {
    if (err instanceof Conflict) {
      await run.commit(async (db) => ({ value: await revertDeleting(db, rowId, coerceError(err).message, run.now()) }));
      throw err;
    }
    if (!(err instanceof NotFound)) throw err;
  }
  const deleted = await run.commit(async (db) => {
    const row = await markDeleted(db, rowId, null, run.now());
    return { value: row !== undefined, events: row ? [deletedEvent(row, run.now())] : [] };
  });
  if (!deleted) return { outcome: 'conflict', metrics: ['skipped'] };
  deps.metrics.snapshots.inc({ state: 'deleted' });
  return { outcome: 'applied', counters: ['deleted_snapshots'] };
}

function deletedEvent(row: DeletedRow, now: Date) {
  const data = {
    snapshotId: row.snapshot_id,
    volumeId: row.volume_id,
    diskName: row.disk_name,
    reason: row.for_deleted_disk ? ('disk-deleted' as const) : ('retention' as const),
    deletedAt: now.toISOString(),
  };
  return buildEvent(EventTypes.snapshotDeleted, data, {
    source: sourceFor('snapshot-sync'),
    subject: row.reservation_id ?? row.snapshot_id,
    time: now,
  });
}

/** EC2 says the snapshot no longer exists: only the row changes, no DeleteSnapshot, no event. */
async function forget(run: Run, step: Step<'forget-snapshot'>): Promise<ActionResult> {
  const { rowId, snapshotId } = step.rule;
  const forgotten = await run.commit(async (db) => {
    const row = await markDeleted(db, rowId, 'no longer in EC2', run.now(), ['completed']);
    const decision = {
      entityKind: 'snapshot' as const,
      entityId: snapshotId,
      action: step.kind,
      reason: step.reason,
      inputs: { rowId },
    };
    return { value: row !== undefined, decisions: row ? [decision] : [] };
  });
  return forgotten
    ? { outcome: 'applied', counters: ['snapshots_forgotten'] }
    : { outcome: 'conflict', metrics: ['skipped'] };
}
