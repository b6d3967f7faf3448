/*
 * The decision-log entries for objects a teardown left alone: named like the reservation's, but
 * labelled for another entity or for none (SPEC 5.9). "What happened to reservation X and why"
 * then shows what was not deleted and whose it was.
 */
import type { LeftAlone } from '../../shared/kube/labelled-resources.js';
import type { DecisionEntry } from '../../shared/runtime/run.js';
import type { Target } from './types.js';

export function leftAloneDecisions(target: Target, leftAlone: LeftAlone[]): DecisionEntry[] {
  return leftAlone.map((object) => ({
    entityKind: 'reservation',
    entityId: target.reservationId,
    action: `left_alone:${object.kind}/${object.name}`,
    reason:
      object.owner === 'other'
        ? `${object.kind} ${object.name} belongs to ${JSON.stringify(object.claimedBy)}, not to this reservation: not deleted`
        : `${object.kind} ${object.name} names no owner (no ${target.owner.key} label or annotation): ownership unproven, not deleted`,
    inputs: {
      namespace: target.namespace,
      kind: object.kind,
      name: object.name,
      owner: object.owner,
      claimedBy: object.claimedBy ?? null,
    },
    outcome: 'skipped',
  }));
}
