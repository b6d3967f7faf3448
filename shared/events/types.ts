/*
 * Every CloudEvent type the product emits or consumes. Ours live under one reverse-DNS prefix
 * (SPEC section 3); pod changes use Knative ApiServerSource's Resource-mode types, which our own
 * pod-watch source emits too, so a consumer never cares which platform saw the change.
 */
const P = 'dev.devenv.lifecycle.';

export const EventTypes = {
  reservationWarned: `${P}reservation.warned`,
  reservationExpired: `${P}reservation.expired`,
  reservationFailed: `${P}reservation.failed`,
  reservationCancelled: `${P}reservation.cancelled`,
  reservationOom: `${P}reservation.oom`,
  reservationExtended: `${P}reservation.extended`,
  reservationEndedByUser: `${P}reservation.ended-by-user`,
  podCleaned: `${P}pod.cleaned`,
  diskReleased: `${P}disk.released`,
  snapshotCompleted: `${P}snapshot.completed`,
  snapshotDeleted: `${P}snapshot.deleted`,
  labFinished: `${P}lab.finished`,
  labFailed: `${P}lab.failed`,
  podAdded: 'dev.knative.apiserver.resource.add',
  podUpdated: 'dev.knative.apiserver.resource.update',
  podDeleted: 'dev.knative.apiserver.resource.delete',
} as const;

export type EventType = (typeof EventTypes)[keyof typeof EventTypes];

export const POD_EVENT_TYPES = [EventTypes.podAdded, EventTypes.podUpdated, EventTypes.podDeleted] as const;

/** A Knative PingSource tick: a schedule trigger, not a domain event. */
export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

const knownTypes: ReadonlySet<string> = new Set(Object.values(EventTypes));

export function isEventType(value: string): value is EventType {
  return knownTypes.has(value);
}
