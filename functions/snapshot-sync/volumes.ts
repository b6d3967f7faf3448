/*
 * The volume goes once its shutdown snapshot completed (DELETE_VOLUME_AFTER_SNAPSHOT, default on,
 * as the origin intended), and only while EC2 says it is detached, its tags name the disk and
 * nothing says a newer reservation uses it. Each EC2 state is handled (volume-state.ts): gone is
 * settled and the disk row stops pointing at it; attached again is kept for good (its next
 * holder's shutdown snapshot decides); creating, attaching, detaching, deleting, error and unknown
 * wait, bounded by an escalation (waits.ts). DeleteVolume's VolumeInUse keeps it; IncorrectState
 * (the state changed under us) leaves it for the next run to look at again.
 */
import { awsErrorCode } from '../../shared/aws/errors.js';
import { forgetDiskVolume, recordVolumeOutcome, volumesAfterSnapshot } from '../../shared/db/queries/disks.js';
import type { VolumeCandidateRow, VolumeOutcome } from '../../shared/db/queries/disks.js';
import { Conflict, NotFound } from '../../shared/errors.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decideVolumes } from './decide.js';
import type { VolumeAction, VolumeCandidate } from './decide.js';
import { observeVolumes } from './observe.js';
import { trackWaits } from './waits.js';
import type { Wait } from './waits.js';

export async function deleteSnapshottedVolumes(ctx: SyncContext): Promise<void> {
  if (!ctx.deps.config.policy.deleteVolumeAfterSnapshot) return;
  const rows = await volumesAfterSnapshot(ctx.deps.pool, ctx.scope.maxItems);
  if (rows.length === 0) return;
  const volumes = await observeVolumes(ctx, [...new Set(rows.map((row) => row.volume_id))]);
  const diskOf = new Map(rows.map((row) => [row.id, row.disk_id]));
  const actions = decideVolumes(rows.map(toCandidate), volumes, ctx.deps.config.policy.deleteVolumeAfterSnapshot);
  await mapWithConcurrency(actions, ctx.concurrency, (action) => executeVolume(ctx, action, diskOf.get(action.candidate.rowId) ?? null));
  await trackWaits(ctx, actions.flatMap(waitOf), actions.map((action) => waitKey(action.candidate)));
}

const toCandidate = (row: VolumeCandidateRow): VolumeCandidate => ({
  rowId: row.id,
  snapshotId: row.snapshot_id,
  volumeId: row.volume_id,
  reservationId: row.reservation_id,
  userId: row.user_id,
  diskName: row.disk_name,
  reservationEnded: row.reservation_ended,
  superseded: row.superseded,
  diskKnown: row.disk_known,
  heldByOther: row.held_by_other,
});

const waitKey = (c: VolumeCandidate) => `volume:${c.rowId}`;

function waitOf(action: VolumeAction): Wait[] {
  if (action.kind !== 'hold-volume' || !action.tracked) return [];
  const { candidate } = action;
  const reason = `volume after shutdown snapshot ${candidate.snapshotId}: ${action.reason}`;
  return [{ key: waitKey(candidate), entityKind: 'volume', entityId: candidate.volumeId, reason, escalateNow: action.escalate === true }];
}

async function executeVolume(ctx: SyncContext, action: VolumeAction, diskId: string | null): Promise<void> {
  const { candidate } = action;
  if (action.kind === 'hold-volume') {
    ctx.count('volumes_held');
    if (action.escalate) ctx.count('volumes_in_error');
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
    else if (action.kind === 'volume-gone') await settle(ctx, candidate, 'gone', action.kind, action.reason, candidate.heldByOther ? null : diskId);
    else await settle(ctx, candidate, 'kept', action.kind, action.reason);
    if (action.kind === 'refuse-volume') {
      ctx.deps.metrics.foreignObjects.inc({ function: 'snapshot-sync', kind: 'volume', owner: action.owner });
      ctx.scope.log.warn({ volumeId: candidate.volumeId, reason: action.reason }, 'volume not deleted: not this disk\'s');
    }
  } catch (err) {
    await ctx.failAction(action.kind, { entityKind: 'volume', entityId: candidate.volumeId, inputs: { snapshotId: candidate.snapshotId } }, err);
  }
}

async function deleteVolume(ctx: SyncContext, candidate: VolumeCandidate, diskId: string | null, reason: string): Promise<void> {
  try {
    await ctx.aws((signal) => ctx.deps.ec2.deleteVolume(candidate.volumeId, signal));
  } catch (err) {
    if (err instanceof NotFound) return settle(ctx, candidate, 'gone', 'volume-gone', 'DeleteVolume: already gone', diskId);
    if (err instanceof Conflict && awsErrorCode(err) === 'IncorrectState') return changedUnderUs(ctx, candidate);
    if (err instanceof Conflict) return settle(ctx, candidate, 'kept', 'keep-volume', 'DeleteVolume refused: the volume is attached again');
    throw err;
  }
  await settle(ctx, candidate, 'deleted', 'delete-volume', reason, diskId);
}

/** IncorrectState: the volume left `available` since it was read. Nothing decided; looked at again next run. */
async function changedUnderUs(ctx: SyncContext, c: VolumeCandidate): Promise<void> {
  ctx.count('volumes_held');
  ctx.done('delete-volume', 'skipped');
  const reason = 'DeleteVolume refused (IncorrectState): the volume changed state; a later run looks again';
  await ctx.logDecisions(ctx.deps.pool, [{ entityKind: 'volume', entityId: c.volumeId, action: 'delete-volume', reason, inputs: { snapshotId: c.snapshotId, rowId: c.rowId }, outcome: 'conflict' }]);
}

const COUNTERS: Record<VolumeOutcome, string> = { deleted: 'volumes_deleted', gone: 'volumes_gone', kept: 'volumes_kept' };

/**
 * Records what became of the volume; a volume deleted or proven gone is no longer the disk's volume
 * either (`diskId` given), unless the disk is held by another reservation.
 */
async function settle(ctx: SyncContext, c: VolumeCandidate, outcome: VolumeOutcome, kind: string, reason: string, diskId: string | null = null): Promise<void> {
  await ctx.tx(async (db) => {
    const recorded = await recordVolumeOutcome(db, c.rowId, outcome, ctx.now());
    if (recorded && diskId !== null) await forgetDiskVolume(db, diskId, c.volumeId);
    const inputs = { snapshotId: c.snapshotId, reservationId: c.reservationId, rowId: c.rowId };
    return { value: recorded, decisions: [{ entityKind: 'volume' as const, entityId: c.volumeId, action: kind, reason, inputs }] };
  });
  ctx.count(kind === 'refuse-volume' ? 'volumes_not_owned' : COUNTERS[outcome]);
  ctx.done(kind === 'refuse-volume' ? 'not-owned' : kind, kind === 'refuse-volume' ? 'skipped' : 'done');
}
