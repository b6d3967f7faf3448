/*
 * Shutdown snapshots' plan, pure: the rule (decideShutdowns in ../decide.ts) turned into the
 * kernel's actions, each on its volume with its reason and inputs; waits are counted and handed to
 * the wait tracking. Requested rows whose token lookup failed are left for a later run: without it
 * a snapshot could be created twice.
 */
import type { Action, Plan } from '../../../shared/plan.js';
import { decideShutdowns } from '../decide.js';
import type { ShutdownAction, ShutdownTarget } from '../decide.js';
import { trackWaits } from '../decide-waits.js';
import type { TrackWaits, Wait } from '../decide-waits.js';
import type { ShutdownLoad } from './load.js';

type Of<K extends ShutdownAction['kind']> = Extract<ShutdownAction, { kind: K }>;
type On<K extends string, R> = Action & { kind: K; rule: R };

export type ShutdownStep =
  | On<'create-snapshot', Of<'create'>>
  | On<'record-snapshot', Of<'record'>>
  | On<'abandon-snapshot', Of<'abandon'>>
  | On<'refuse-snapshot', Of<'refuse'>>;

/** An event run with nothing to snapshot still records its event (the inbox) in a commit of its own. */
export interface AcknowledgeEvent {
  kind: 'acknowledge-event';
}

export function decideShutdownStage(
  loaded: ShutdownLoad,
  context: { now: Date },
): Plan<ShutdownStep, AcknowledgeEvent | TrackWaits> {
  const requested = loaded.byToken ? loaded.requested : [];
  const rules = decideShutdowns({
    now: context.now,
    fresh: loaded.fresh,
    requested,
    volumes: loaded.volumes,
    byToken: loaded.byToken ?? new Map(),
  });
  const waits = rules.filter((rule): rule is Of<'wait'> => rule.kind === 'wait');
  const counts = {
    ...loaded.counts,
    awaiting_volume: waits.length,
    volumes_in_error: waits.filter((wait) => wait.escalate).length,
    waits_open: waits.flatMap(waitOf).length,
  };
  const steps = rules.flatMap((rule) => (rule.kind === 'wait' ? [] : [step(rule)]));
  // An event run has one target. Acted on, that action's commit is the effect and carries the inbox
  // record (a second commit racing it for the record would turn one into a duplicate); waiting, the
  // wait is the effect.
  const tracked =
    loaded.event && steps.length > 0
      ? []
      : trackWaits(
          waits.flatMap(waitOf),
          rules.map((rule) => waitKey(rule.target)),
        );
  const acknowledge: AcknowledgeEvent[] = loaded.acknowledge ? [{ kind: 'acknowledge-event' }] : [];
  return { actions: steps, upkeep: [...acknowledge, ...tracked], counts };
}

const waitKey = (target: ShutdownTarget) => `shutdown:${target.reservationId}:${target.volumeId}`;

function waitOf(rule: Of<'wait'>): Wait[] {
  if (rule.tracked === false) return [];
  const { target } = rule;
  return [
    {
      key: waitKey(target),
      entityKind: 'volume',
      entityId: target.volumeId,
      reason: `shutdown snapshot of reservation ${target.reservationId}: ${rule.reason}`,
      escalateNow: rule.escalate === true,
    },
  ];
}

export const inputsOf = (target: ShutdownTarget, more: Record<string, unknown> = {}) => ({
  reservationId: target.reservationId,
  volumeId: target.volumeId,
  diskId: target.diskId,
  diskName: target.diskName,
  ...more,
});

function step(rule: Exclude<ShutdownAction, Of<'wait'>>): ShutdownStep {
  const { target, reason } = rule;
  const kind = `${rule.kind}-snapshot` as const;
  const snapshotId = rule.kind === 'record' ? rule.snapshot.snapshotId : null;
  const base = {
    entity: { kind: 'volume' as const, id: target.volumeId },
    reason,
    inputs: inputsOf(target, rule.kind === 'refuse' ? { heldBy: target.heldBy } : {}),
    item: { action: kind, reservationId: target.reservationId, volumeId: target.volumeId, snapshotId, reason },
  };
  return { kind, rule, ...base } as ShutdownStep;
}
