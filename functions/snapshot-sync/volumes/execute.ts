/*
 * Carrying out a volume decision. DeleteVolume's VolumeInUse keeps the volume; IncorrectState (the
 * state changed under us) leaves it for the next run to look at again; NotFound settles it as gone.
 * Whatever became of the volume is recorded with its decision in one commit; a volume deleted or
 * proven gone is no longer the disk's volume either, unless another reservation holds the disk.
 */
import { awsErrorCode } from '../../../shared/aws/errors.js';
import { forgetDiskVolume, recordVolumeOutcome } from '../../../shared/db/queries/disks.js';
import type { VolumeOutcome } from '../../../shared/db/queries/disks.js';
import { Conflict, NotFound } from '../../../shared/errors.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { VolumeCandidate } from '../decide.js';
import { FN, ec2Call } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import type { VolumeStep } from './decide.js';

type Step<K extends string> = Extract<VolumeStep, { kind: K }>;

export const volumeExecutors: Executors<VolumeStep, SyncDeps> = {
  'delete-volume': deleteVolume,
  'volume-gone': (run, step) =>
    settle(
      run,
      step.rule.candidate,
      'gone',
      step.kind,
      step.reason,
      step.rule.candidate.heldByOther ? null : step.diskId,
    ),
  'keep-volume': (run, step) => settle(run, step.rule.candidate, 'kept', step.kind, step.reason),
  'refuse-volume': refuse,
};

async function deleteVolume(run: Run, step: Step<'delete-volume'>, deps: SyncDeps): Promise<ActionResult> {
  const c = step.rule.candidate;
  try {
    await ec2Call(deps, (signal) => deps.ec2.deleteVolume(c.volumeId, signal));
  } catch (err) {
    if (err instanceof NotFound)
      return settle(run, c, 'gone', 'volume-gone', 'DeleteVolume: already gone', step.diskId);
    if (err instanceof Conflict && awsErrorCode(err) === 'IncorrectState') return changedUnderUs(run, c);
    if (err instanceof Conflict)
      return settle(run, c, 'kept', 'keep-volume', 'DeleteVolume refused: the volume is attached again');
    throw err;
  }
  return settle(run, c, 'deleted', 'delete-volume', step.reason, step.diskId);
}

async function refuse(run: Run, step: Step<'refuse-volume'>, deps: SyncDeps): Promise<ActionResult> {
  await settle(run, step.rule.candidate, 'kept', step.kind, step.reason);
  deps.metrics.foreignObjects.inc({ function: FN, kind: 'volume', owner: step.rule.owner });
  run.log.warn({ volumeId: step.rule.candidate.volumeId, reason: step.reason }, "volume not deleted: not this disk's");
  return { outcome: 'skipped', counters: ['volumes_not_owned'], metrics: ['skipped'] };
}

/** IncorrectState: the volume left `available` since it was read. Nothing decided; looked at again next run. */
async function changedUnderUs(run: Run, c: VolumeCandidate): Promise<ActionResult> {
  const reason = 'DeleteVolume refused (IncorrectState): the volume changed state; a later run looks again';
  await run.commit(async () => ({
    value: undefined,
    decisions: [
      {
        entityKind: 'volume',
        entityId: c.volumeId,
        action: 'delete-volume',
        reason,
        inputs: { snapshotId: c.snapshotId, rowId: c.rowId },
        outcome: 'conflict',
      },
    ],
  }));
  return { outcome: 'skipped', counters: ['volumes_held'] };
}

const SUMMARY_KEY: Record<VolumeOutcome, string> = {
  deleted: 'volumes_deleted',
  gone: 'volumes_gone',
  kept: 'volumes_kept',
};

async function settle(
  run: Run,
  c: VolumeCandidate,
  outcome: VolumeOutcome,
  kind: string,
  reason: string,
  diskId: string | null = null,
): Promise<ActionResult> {
  await run.commit(async (db) => {
    const recorded = await recordVolumeOutcome(db, c.rowId, outcome, run.now());
    if (recorded && diskId !== null) await forgetDiskVolume(db, diskId, c.volumeId);
    const inputs = { snapshotId: c.snapshotId, reservationId: c.reservationId, rowId: c.rowId };
    return {
      value: recorded,
      decisions: [{ entityKind: 'volume' as const, entityId: c.volumeId, action: kind, reason, inputs }],
    };
  });
  return { outcome: 'applied', counters: [SUMMARY_KEY[outcome]] };
}
