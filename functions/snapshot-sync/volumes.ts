/*
 * The volume goes once its shutdown snapshot completed (DELETE_VOLUME_AFTER_SNAPSHOT, default on,
 * as the origin intended), and only while EC2 says it is detached and nothing says a newer
 * reservation uses it. NotFound means it is already gone; VolumeInUse means it is attached again,
 * and then it is kept for good: its next holder's shutdown snapshot decides its fate.
 */
import { forgetDiskVolume, recordVolumeOutcome, volumesAfterSnapshot } from '../../shared/db/queries/disks.js';
import type { VolumeCandidateRow, VolumeOutcome } from '../../shared/db/queries/disks.js';
import { Conflict, NotFound } from '../../shared/errors.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decideVolumes } from './decide.js';
import type { VolumeAction, VolumeCandidate } from './decide.js';
import { observeVolumes } from './observe.js';

export async function deleteSnapshottedVolumes(ctx: SyncContext): Promise<void> {
  if (!ctx.deps.config.policy.deleteVolumeAfterSnapshot) return;
  const rows = await volumesAfterSnapshot(ctx.deps.pool, ctx.scope.maxItems);
  if (rows.length === 0) return;
  const volumes = await observeVolumes(ctx, [...new Set(rows.map((row) => row.volume_id))]);
  const diskOf = new Map(rows.map((row) => [row.id, row.disk_id]));
  const actions = decideVolumes(rows.map(toCandidate), volumes, ctx.deps.config.policy.deleteVolumeAfterSnapshot);
  await mapWithConcurrency(actions, ctx.concurrency, (action) => executeVolume(ctx, action, diskOf.get(action.candidate.rowId) ?? null));
}

const toCandidate = (row: VolumeCandidateRow): VolumeCandidate => ({
  rowId: row.id,
  snapshotId: row.snapshot_id,
  volumeId: row.volume_id,
  reservationId: row.reservation_id,
  reservationEnded: row.reservation_ended,
  superseded: row.superseded,
  diskKnown: row.disk_known,
  heldByOther: row.held_by_other,
});

async function executeVolume(ctx: SyncContext, action: VolumeAction, diskId: string | null): Promise<void> {
  const { candidate } = action;
  if (action.kind === 'hold-volume') {
    ctx.count('volumes_held');
    ctx.scope.log.info({ volumeId: candidate.volumeId, reason: action.reason }, 'volume left for a later run');
    return;
  }
  if (!ctx.take()) return;
  if (ctx.dryRun) {
    ctx.plan(action.kind, { volumeId: candidate.volumeId, snapshotId: candidate.snapshotId, reservationId: candidate.reservationId }, action.reason);
    return;
  }
  try {
    if (action.kind === 'delete-volume') await deleteVolume(ctx, candidate, diskId, action.reason);
    else await settle(ctx, candidate, action.kind === 'keep-volume' ? 'kept' : 'gone', action.kind, action.reason);
  } catch (err) {
    await ctx.failAction(action.kind, { entityKind: 'volume', entityId: candidate.volumeId, inputs: { snapshotId: candidate.snapshotId } }, err);
  }
}

async function deleteVolume(ctx: SyncContext, candidate: VolumeCandidate, diskId: string | null, reason: string): Promise<void> {
  try {
    await ctx.aws((signal) => ctx.deps.ec2.deleteVolume(candidate.volumeId, signal));
  } catch (err) {
    if (err instanceof NotFound) return settle(ctx, candidate, 'gone', 'volume-gone', 'DeleteVolume: already gone');
    if (err instanceof Conflict) return settle(ctx, candidate, 'kept', 'keep-volume', 'DeleteVolume refused: the volume is attached again');
    throw err;
  }
  await settle(ctx, candidate, 'deleted', 'delete-volume', reason, diskId);
}

const COUNTERS: Record<VolumeOutcome, string> = { deleted: 'volumes_deleted', gone: 'volumes_gone', kept: 'volumes_kept' };

/** Records what became of the volume; a deleted volume is no longer the disk's volume either. */
async function settle(ctx: SyncContext, c: VolumeCandidate, outcome: VolumeOutcome, kind: string, reason: string, diskId: string | null = null): Promise<void> {
  await ctx.tx(async (db) => {
    const recorded = await recordVolumeOutcome(db, c.rowId, outcome, ctx.now());
    if (recorded && diskId !== null) await forgetDiskVolume(db, diskId, c.volumeId);
    const inputs = { snapshotId: c.snapshotId, reservationId: c.reservationId, rowId: c.rowId };
    return { value: recorded, decisions: [{ entityKind: 'volume' as const, entityId: c.volumeId, action: kind, reason, inputs }] };
  });
  ctx.count(COUNTERS[outcome]);
  ctx.done(kind);
}
