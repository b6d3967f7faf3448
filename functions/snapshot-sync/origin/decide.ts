/*
 * Cut-over leftovers' plan, pure: the rule (decideOriginPending in ../decide-origin.ts) as the
 * kernel's actions. A disk nothing explains is counted, named in the run's message and waits,
 * bounded by an escalation; it is never counted as synced.
 */
import type { Action, Plan } from '../../../shared/plan.js';
import { decideOriginPending } from '../decide-origin.js';
import type { BackingUpDisk, OriginAction } from '../decide-origin.js';
import { trackWaits } from '../decide-waits.js';
import type { TrackWaits, Wait } from '../decide-waits.js';
import type { OriginLoad } from './load.js';

export type ReconcileStep = Action & {
  kind: 'reconcile-origin-pending';
  rule: Extract<OriginAction, { kind: 'reconcile' }>;
};
export function decideOriginStage(loaded: OriginLoad): Plan<ReconcileStep, TrackWaits> {
  if (loaded.disks.length === 0) return { actions: [] };
  if (!loaded.found) return { actions: [], counts: { disks_backing_up_unchecked: loaded.disks.length } };
  const rules = decideOriginPending(loaded.disks, loaded.found, loaded.known);
  const reconciles = rules.flatMap((rule): ReconcileStep[] => (rule.kind === 'reconcile' ? [step(rule)] : []));
  const unexplained = rules.filter((rule) => rule.kind === 'unexplained');
  const waits = rules.flatMap(waitOf);
  // Not synced, and said so: a disk stays backing up until someone accounts for its snapshots.
  const stillBackingUp =
    unexplained.length + reconciles.filter((reconcile) => reconcile.rule.unexplainedAfter > 0).length;
  return {
    actions: reconciles,
    upkeep: trackWaits(
      waits,
      rules.map((rule) => waitKey(rule.disk)),
    ),
    counts: { disks_backing_up_unexplained: unexplained.length, waits_open: waits.length },
    ...(stillBackingUp > 0
      ? { message: `${stillBackingUp} disk(s) still backing up with snapshots nobody accounts for` }
      : {}),
  };
}

const waitKey = (disk: BackingUpDisk) => `disk-backing-up:${disk.diskId}`;

function waitOf(rule: OriginAction): Wait[] {
  const left = rule.kind === 'unexplained' ? rule.unexplained : rule.unexplainedAfter;
  if (rule.kind === 'reconcile' && left === 0) return [];
  return [
    {
      key: waitKey(rule.disk),
      entityKind: 'disk',
      entityId: rule.disk.diskId,
      reason: `the disk is backing up and nothing accounts for it: ${rule.reason}`,
    },
  ];
}

function step(rule: ReconcileStep['rule']): ReconcileStep {
  const { disk } = rule;
  const item = {
    action: 'reconcile-origin-pending',
    diskId: disk.diskId,
    adopt: rule.adopt.length,
    count: rule.count.length,
    reason: rule.reason,
  };
  const inputs = {
    adopt: rule.adopt.map((s) => s.snapshotId),
    count: rule.count.map((row) => row.snapshotId),
    unexplainedAfter: rule.unexplainedAfter,
  };
  return {
    kind: 'reconcile-origin-pending',
    rule,
    entity: { kind: 'disk', id: disk.diskId },
    reason: rule.reason,
    inputs,
    item,
  };
}
