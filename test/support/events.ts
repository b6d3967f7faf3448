/* Builders of the product's CloudEvents for tests. */
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import type { LifecycleEvent } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';

/** reservation.expired as expire publishes it for a reservation with no pod, ended at `now`. */
export function reservationExpiredEvent(
  reservationId: string,
  now: Date,
): LifecycleEvent<typeof EventTypes.reservationExpired> {
  return buildEvent(
    EventTypes.reservationExpired,
    {
      reservationId,
      previousStatus: 'active',
      reason: 'deadline',
      podName: null,
      namespace: null,
      expiresAt: null,
      endedAt: now.toISOString(),
    },
    { source: sourceFor('expire'), subject: reservationId, time: now },
  );
}
