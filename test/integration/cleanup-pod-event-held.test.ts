/*
 * An ended-reservation event that reaches cleanup-pod while the blast-radius breaker holds it, through
 * the endpoint as the Broker or the gateway delivers it. The held run writes nothing, the inbox record
 * included, so it must not acknowledge the event: it answers 503 and the platform delivers it again;
 * once the window has passed, that delivery tears the reservation down and records the event. A copy
 * of an event another delivery already recorded is acknowledged even while the breaker holds the run.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { recordProcessedEvent } from '../../shared/db/queries/inbox.js';
import { toBinaryHttp } from '../../shared/events/build.js';
import type { LifecycleEvent } from '../../shared/events/build.js';
import { createEndpoint } from '../../shared/runtime/endpoint.js';
import { reservationExpiredEvent } from '../support/events.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { silentLog } from '../support/world.js';
import { seedEndedReservation, teardownOf } from './cleanup-pod-seed.js';

// No active reservations: the limit is BREAKER_MIN_ACTIONS, one teardown per 10 minutes.
const h = useFunctionHarness({ BREAKER_MIN_ACTIONS: '1', BREAKER_FLEET_PERCENT: '1', BREAKER_WINDOW_MINUTES: '10' });

const deliver = (event: LifecycleEvent) => {
  const endpoint = createEndpoint(cleanupPod, () => h.deps, {
    metrics: h.deps.metrics,
    logger: silentLog,
    bodyLimitBytes: 65_536,
  });
  const { headers, body } = toBinaryHttp(event);
  return endpoint({ method: 'POST', path: '/', headers, rawBody: body });
};
const inboxHas = async (event: LifecycleEvent) =>
  (
    await h.deps.pool.query(
      `select 1 from event_inbox where consumer = 'cleanup-pod' and source = $1 and event_id = $2`,
      [event.source, event.id],
    )
  ).rowCount === 1;
const podDeleting = (podName: string) =>
  Boolean(h.sim.kube.pod({ namespace: 'gpu-dev', name: podName })?.metadata.deletionTimestamp);

/** A sweep takes the window's one teardown, so the next destructive action trips the breaker. */
async function tripWindow(): Promise<void> {
  await seedEndedReservation(h);
  expect(await h.schedule(cleanupPod)).toMatchObject({ outcome: 'succeeded', summary: { destructive: 1 } });
}

describe('an event that reaches cleanup-pod while the breaker holds it', () => {
  it('is not acknowledged (503, no inbox record), and its redelivery after the window does the work', async () => {
    await tripWindow();
    const ended = await seedEndedReservation(h);
    const event = reservationExpiredEvent(ended.id, h.clock.now());

    const held = await deliver(event);
    expect(held.status).toBe(503);
    expect(JSON.parse(held.body)).toMatchObject({
      type: 'urn:devenv-lifecycle:problem:event-held',
      outcome: 'halted',
      eventHeld: true,
      summary: { withheld: 1 },
    });
    expect(await inboxHas(event)).toBe(false);
    expect(await teardownOf(h, ended.id)).toBeUndefined();
    expect(podDeleting(ended.podName)).toBe(false);

    h.clock.advanceMinutes(11);
    const redelivered = await deliver(event);
    expect(redelivered.status).toBe(202);
    expect(JSON.parse(redelivered.body)).toMatchObject({ outcome: 'accepted', summary: { resources_deleted: 1 } });
    expect(await inboxHas(event)).toBe(true);
    expect(await teardownOf(h, ended.id)).toBeDefined();
    expect(podDeleting(ended.podName)).toBe(true);
  });

  it('is acknowledged while held when another delivery of it was already recorded', async () => {
    h.clock.advanceMinutes(11);
    await tripWindow();
    const ended = await seedEndedReservation(h);
    const event = reservationExpiredEvent(ended.id, h.clock.now());
    // What another replica's delivery of the same event wrote, with its effect, before this copy came.
    await recordProcessedEvent(
      h.deps.pool,
      { consumer: 'cleanup-pod', source: event.source, eventId: event.id, type: event.type },
      h.clock.now(),
    );

    const answer = await deliver(event);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ outcome: 'halted', summary: { withheld: 1 } });
    expect(JSON.parse(answer.body)).not.toHaveProperty('eventHeld');
    expect(podDeleting(ended.podName)).toBe(false);
  });
});
