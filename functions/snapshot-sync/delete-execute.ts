/*
 * Deleting one snapshot: `deleting` is written first (compare-and-set from completed), then
 * DeleteSnapshot, then `deleted` with its snapshot.deleted event. A run that stops in between
 * leaves a `deleting` row, which the next run finishes; NotFound means it is already done.
 */
import { markDeleted, markDeleting, revertDeleting } from '../../shared/db/queries/snapshots.js';
import type { DeletedRow } from '../../shared/db/queries/snapshots.js';
import { Conflict, NotFound, coerceError } from '../../shared/errors.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { SyncContext } from './context.js';
import type { DeleteAction } from './decide-deletions.js';

export async function executeDeletion(ctx: SyncContext, action: DeleteAction): Promise<void> {
  const { rowId, snapshotId, reason } = action;
  if (action.kind === 'spare') {
    ctx.count('snapshots_spared');
    ctx.scope.log.info({ snapshotId, reason }, 'snapshot not deleted');
    return;
  }
  if (!ctx.take()) return;
  if (ctx.dryRun) {
    ctx.plan(action.kind === 'forget' ? 'forget-snapshot' : 'delete-snapshot', { snapshotId }, reason);
    return;
  }
  try {
    if (action.kind === 'forget') await forget(ctx, rowId, snapshotId, reason);
    else if (await markForDeletion(ctx, rowId, snapshotId, action.reason, action.cause)) await finishDeletion(ctx, rowId, snapshotId);
  } catch (err) {
    await ctx.failAction(action.kind === 'forget' ? 'forget-snapshot' : 'delete-snapshot', { entityKind: 'snapshot', entityId: snapshotId }, err);
  }
}

async function markForDeletion(ctx: SyncContext, rowId: string, snapshotId: string, reason: string, cause: string): Promise<boolean> {
  return ctx.tx(async (db) => {
    const marked = await markDeleting(db, rowId, ctx.now());
    const decision = { entityKind: 'snapshot' as const, entityId: snapshotId, action: 'delete-snapshot', reason, inputs: { rowId, cause } };
    return { value: marked, decisions: [{ ...decision, outcome: marked ? 'applied' as const : 'conflict' as const }] };
  });
}

/** DeleteSnapshot for a row already marked `deleting`, then `deleted` with its event. */
export async function finishDeletion(ctx: SyncContext, rowId: string, snapshotId: string): Promise<void> {
  try {
    await ctx.aws((signal) => ctx.deps.ec2.deleteSnapshot(snapshotId, signal));
  } catch (err) {
    if (err instanceof Conflict) {
      await revertDeleting(ctx.deps.pool, rowId, coerceError(err).message, ctx.now());
      throw err;
    }
    if (!(err instanceof NotFound)) throw err;
  }
  const deleted = await ctx.tx(async (db) => {
    const row = await markDeleted(db, rowId, null, ctx.now());
    if (row) await ctx.scope.stage(db, [deletedEvent(ctx, row)]);
    return { value: row !== undefined, decisions: [] };
  });
  if (!deleted) return;
  ctx.count('deleted_snapshots');
  ctx.deps.metrics.snapshots.inc({ state: 'deleted' });
  ctx.done('delete-snapshot');
}

function deletedEvent(ctx: SyncContext, row: DeletedRow) {
  const now = ctx.now();
  return buildEvent(EventTypes.snapshotDeleted, {
    snapshotId: row.snapshot_id,
    volumeId: row.volume_id,
    diskName: row.disk_name,
    reason: row.for_deleted_disk ? 'disk-deleted' : 'retention',
    deletedAt: now.toISOString(),
  }, { source: sourceFor('snapshot-sync'), subject: row.reservation_id ?? row.snapshot_id, time: now });
}

/** EC2 says the snapshot no longer exists: only the row changes, no DeleteSnapshot, no event. */
async function forget(ctx: SyncContext, rowId: string, snapshotId: string, reason: string): Promise<void> {
  const forgotten = await ctx.tx(async (db) => {
    const row = await markDeleted(db, rowId, 'no longer in EC2', ctx.now(), ['completed']);
    const decision = { entityKind: 'snapshot' as const, entityId: snapshotId, action: 'forget-snapshot', reason, inputs: { rowId } };
    return { value: row !== undefined, decisions: row ? [decision] : [] };
  });
  if (!forgotten) return;
  ctx.count('snapshots_forgotten');
  ctx.done('forget-snapshot');
}
