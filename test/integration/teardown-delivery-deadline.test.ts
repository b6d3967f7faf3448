/*
 * A run's events are delivered within its budget (issue 18: the teardown benchmark's longest run,
 * 53.4 s of 50, was the run that finished 500 teardowns and then delivered their 1,000 events —
 * about 17 s for 1,000 on this loaded machine — after its work). No send starts after the run's
 * deadline: the rest stay in the outbox, due at once and with no attempt counted, and the next
 * run delivers them.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { flushOutbox, stageEvents } from '../../shared/events/outbox.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, teardownOf, useAcceptingGateway } from './cleanup-pod-seed.js';

const UPDATER = 'gpu-dev-availability-updater';
const sink = useAcceptingGateway();
const h = useFunctionHarness(() => ({
  EVENT_DELIVERY: 'knative',
  K_SINK: `${sink.url}/`,
  AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER,
}));

const outboxOf = async (subject: string) =>
  (
    await h.deps.pool.query<{ delivered: boolean; attempts: number; leased: boolean }>(
      `select delivered_at is not null as delivered, attempts, lease_owner is not null as leased from event_outbox where subject = $1 order by id`,
      [subject],
    )
  ).rows;

describe('delivery within the run budget', () => {
  it('starts no send at or after the deadline: the rows go back unleased, with no attempt counted, and a later flush sends them', async () => {
    const now = h.clock.now();
    const events = [1, 2, 3].map((n) =>
      buildEvent(
        EventTypes.diskReleased,
        { reservationId: 'deadline-r', userId: 'u', diskName: `d${n}`, volumeId: null, releasedAt: now.toISOString() },
        { source: sourceFor('cleanup-pod'), subject: 'deadline-r', time: now },
      ),
    );
    const publish = { mode: 'knative' as const, sinkUrl: `${sink.url}/` };
    await stageEvents(h.deps.pool, events, publish, now);
    const flush = (deadline?: Date) =>
      flushOutbox({
        db: h.deps.pool,
        publish,
        now: () => h.clock.now(),
        owner: 'test',
        limit: 10,
        timeoutMs: 2000,
        concurrency: 2,
        eventIds: events.map((e) => e.id),
        ...(deadline ? { deadline } : {}),
      });
    expect(await flush(now)).toMatchObject({ delivered: 0, failed: 0, deferred: 3 });
    expect(await outboxOf('deadline-r')).toEqual(Array(3).fill({ delivered: false, attempts: 0, leased: false }));
    expect(await flush(new Date(now.getTime() + 1000))).toMatchObject({ delivered: 3 });
    expect((await outboxOf('deadline-r')).every((row) => row.delivered)).toBe(true);
  });

  it('leaves the events of a cleanup-pod run whose work ended past its deadline for the next run, which delivers them', async () => {
    h.sim.aws.addFunction(UPDATER);
    const r = await seedEndedReservation(h);
    await h.schedule(cleanupPod);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    const tick = h.clock.now.bind(h.clock);
    // The availability updater is the run's last call before delivery: from then on the budget is spent.
    h.clock.now = () => new Date(tick().getTime() + (h.sim.aws.invocations(UPDATER).length > 0 ? 60_000 : 0));
    try {
      const late = await h.schedule(cleanupPod);
      expect(late.summary).toMatchObject({ cleaned: 1, disks_released: 1, events_deferred: 2 });
      expect(late.summary.events_delivered ?? 0).toBe(0);
    } finally {
      h.clock.now = tick;
    }
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(await outboxOf(r.id)).toEqual([
      { delivered: false, attempts: 0, leased: false },
      { delivered: false, attempts: 0, leased: false },
    ]);
    h.clock.advanceSeconds(61);
    expect((await h.schedule(cleanupPod)).summary).toMatchObject({ events_delivered: 2 });
    expect((await outboxOf(r.id)).every((row) => row.delivered)).toBe(true);
  });
});
