/*
 * The volume's plan, pure: the rule (decideVolumes in ../decide.ts) as the kernel's actions. Only
 * `delete-volume` destroys anything, so only it is destructive (the rails weigh it); it goes only
 * when the volume's tags name the disk being torn down (ownershipOf). Held volumes are counted and
 * their waits tracked.
 */
import type { Action, Plan } from '../../../shared/plan.js';
import { decideVolumes } from '../decide.js';
import type { VolumeAction, VolumeCandidate } from '../decide.js';
import { trackWaits } from '../decide-waits.js';
import type { TrackWaits, Wait } from '../decide-waits.js';
import type { VolumeLoad } from './load.js';

type Settled = Exclude<VolumeAction, { kind: 'hold-volume' }>;
type StepOf<R> = R extends Settled ? Action & { kind: R['kind']; rule: R; diskId: string | null } : never;
export type VolumeStep = StepOf<Settled>;

export function decideVolumeStage(loaded: VolumeLoad): Plan<VolumeStep, TrackWaits> {
  const rules = decideVolumes(loaded.candidates, loaded.volumes, loaded.deleteAfterSnapshot);
  const held = rules.filter(
    (rule): rule is Extract<VolumeAction, { kind: 'hold-volume' }> => rule.kind === 'hold-volume',
  );
  const waits = held.flatMap(waitOf);
  const steps = rules.flatMap((rule): VolumeStep[] =>
    rule.kind === 'hold-volume' ? [] : [step(rule, loaded.diskOf.get(rule.candidate.rowId) ?? null)],
  );
  return {
    actions: steps,
    upkeep: trackWaits(
      waits,
      rules.map((rule) => waitKey(rule.candidate)),
    ),
    counts: {
      malformed_volume_ids: loaded.malformed,
      volumes_held: held.length,
      volumes_in_error: held.filter((rule) => rule.escalate).length,
      waits_open: waits.length,
    },
  };
}

const waitKey = (c: VolumeCandidate) => `volume:${c.rowId}`;

function waitOf(rule: Extract<VolumeAction, { kind: 'hold-volume' }>): Wait[] {
  if (!rule.tracked) return [];
  const { candidate } = rule;
  const reason = `volume after shutdown snapshot ${candidate.snapshotId}: ${rule.reason}`;
  return [
    {
      key: waitKey(candidate),
      entityKind: 'volume',
      entityId: candidate.volumeId,
      reason,
      escalateNow: rule.escalate === true,
    },
  ];
}

function step(rule: Settled, diskId: string | null): VolumeStep {
  const c = rule.candidate;
  return {
    kind: rule.kind,
    rule,
    diskId,
    entity: { kind: 'volume', id: c.volumeId },
    reason: rule.reason,
    inputs: { snapshotId: c.snapshotId, reservationId: c.reservationId, rowId: c.rowId },
    item: {
      action: rule.kind,
      volumeId: c.volumeId,
      snapshotId: c.snapshotId,
      reservationId: c.reservationId,
      reason: rule.reason,
    },
    ...(rule.kind === 'delete-volume' ? { destructive: true } : {}),
  } as VolumeStep;
}
