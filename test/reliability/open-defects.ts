/*
 * Defects the generated fleets find that are not fixed yet, each with the item of issue 14 it
 * belongs to. A violation whose entity (reservation or lab) went through a listed adversity, of a
 * listed invariant, is reported in the summary as an open defect instead of failing the test, so
 * the rest stays guarded. The list must shrink to empty as the items land; it never hides a
 * violation of an entity that went through none of the listed adversity.
 */
import { adversityOfEntity } from './adversity.js';
import type { Adversity, GeneratedFleet } from './adversity.js';
import type { Invariant, Violation } from './harm.js';

interface OpenDefect {
  issueItem: string;
  adversity: Adversity;
  invariants: Invariant[];
}

/** RELIABILITY_STRICT=1 lists nothing: every violation fails, to see what is still open. */
export const OPEN_DEFECTS: OpenDefect[] = process.env.RELIABILITY_STRICT ? [] : [
  // cleanup-pod deletes the pod and service by name without reading the owner label back, so a
  // teardown kills the pod another reservation now holds under that name; the victim is then
  // expired as "pod deleted outside the system" and its volume snapshotted and deleted.
  ...(['reused-pod-name', 'pod-name-of-live'] as const).map((adversity) => ({
    issueItem: 'issue 14 item 1', adversity, invariants: ['ownership', 'live-stays-live', 'volume-holder', 'liveness', 'old'] as Invariant[],
  })),
  // An id that is not a label value: cleanup-pod refuses the selector and never finishes; its end
  // event is not delivered (ce-subject).
  { issueItem: 'issue 14 items 2-3', adversity: 'id-not-a-label', invariants: ['liveness', 'old'] },
  // A teardown waits at await_detach on the volume the user's newer reservation holds, for ever.
  { issueItem: 'issue 14 item 4', adversity: 'disk-moved', invariants: ['volume-holder', 'liveness'] },
  // ending-watchdog marks the lab failed on a 500 from the cluster.
  { issueItem: 'issue 14 item 5', adversity: 'outage-lab-namespace', invariants: ['live-stays-live', 'liveness'] },
  // A 404 in a namespace that does not exist reads as "pod gone": the reservation is expired.
  { issueItem: 'issue 14 item 6', adversity: 'missing-namespace', invariants: ['live-stays-live', 'old'] },
];

/** The open defect a violation belongs to, named by its issue item, or undefined. */
export function openDefectOf(violation: Violation, fleet: GeneratedFleet): string | undefined {
  const adversity = adversityOfEntity(fleet, violation.entity);
  const defect = OPEN_DEFECTS.find((d) => d.invariants.includes(violation.invariant) && adversity.includes(d.adversity));
  return defect && `${defect.issueItem} (${defect.adversity})`;
}
