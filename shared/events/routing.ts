/*
 * THE routing table: which function consumes which event type. stack.yml, the Knative Triggers
 * and the local stack's event router follow it, and tests fail when they disagree. A type with no
 * consumer is still published (to the Broker on Knative) for anyone who subscribes later.
 */
import type { FunctionName } from '../function-names.js';
import { EventTypes } from './types.js';
import type { EventType } from './types.js';

const routes: Readonly<Record<EventType, readonly FunctionName[]>> = {
  [EventTypes.reservationWarned]: [],
  [EventTypes.reservationExpired]: ['cleanup-pod'],
  [EventTypes.reservationFailed]: ['cleanup-pod'],
  [EventTypes.reservationCancelled]: ['cleanup-pod'],
  [EventTypes.reservationOom]: [],
  [EventTypes.reservationExtended]: [],
  // The user ended it from a warning: the same teardown (and shutdown snapshot) as an expiry.
  [EventTypes.reservationEndedByUser]: ['cleanup-pod'],
  [EventTypes.podCleaned]: ['snapshot-sync'],
  [EventTypes.diskReleased]: [],
  [EventTypes.snapshotCompleted]: [],
  [EventTypes.snapshotDeleted]: [],
  [EventTypes.labFinished]: [],
  [EventTypes.labFailed]: [],
  [EventTypes.podAdded]: ['expire', 'oom-scan'],
  [EventTypes.podUpdated]: ['expire', 'oom-scan'],
  [EventTypes.podDeleted]: ['expire', 'oom-scan'],
};

export function consumersOf(type: EventType): readonly FunctionName[] {
  return routes[type];
}

export function typesConsumedBy(fn: FunctionName): EventType[] {
  return (Object.keys(routes) as EventType[]).filter((type) => routes[type].includes(fn));
}
