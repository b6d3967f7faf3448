/*
 * cleanup-pod's event path on the run kernel: the CloudEvent's inbox record commits with its first
 * effect (the teardown started and leased), so a run killed inside that commit leaves neither and
 * deletes nothing; the retry does the work once; a duplicate does nothing. An event about a
 * reservation with nothing to tear down is still consumed once.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, teardownOf } from './cleanup-pod-seed.js';

const h = useFunctionHarness();
const NS = 'gpu-dev';

const expiredEvent = (reservationId: string, podName: string | null) => ({
  id: randomUUID(),
  type: EventTypes.reservationExpired,
  source: '/devenv-lifecycle/expire',
  subject: reservationId,
  data: {
    reservationId,
    previousStatus: 'active' as const,
    reason: 'deadline',
    podName,
    namespace: NS,
    expiresAt: null,
    endedAt: h.clock.now().toISOString(),
  },
});
const inboxOf = async (eventId: string) =>
  Number(
    (
      await h.deps.pool.query(`select count(*) from event_inbox where consumer = 'cleanup-pod' and event_id = $1`, [
        eventId,
      ])
    ).rows[0].count,
  );
const podDeletes = (podName: string) =>
  h.sim.requests.all().filter((q) => q.method === 'DELETE' && q.path === `/api/v1/namespaces/${NS}/pods/${podName}`);

/**
 * Fails every insert into cleanup_progress: the run dies inside the commit that starts the
 * teardown. A killed process gives nothing back, so the inbox refuses deletes meanwhile: what is
 * left is what the commits left, not what a failed run's clean-up undid.
 */
async function killingTheStart<T>(work: () => Promise<T>): Promise<T> {
  await h.deps.pool
    .query(`create function fail_write() returns trigger language plpgsql as $$ begin raise exception 'killed'; end $$;
    create trigger fail_teardown_start before insert on cleanup_progress for each row execute function fail_write();
    create trigger keep_inbox before delete on event_inbox for each row execute function fail_write()`);
  try {
    return await work();
  } finally {
    await h.deps.pool.query(
      'drop trigger fail_teardown_start on cleanup_progress; drop trigger keep_inbox on event_inbox; drop function fail_write()',
    );
  }
}

describe('cleanup-pod consumes an ended-reservation event with its first effect', () => {
  it('a run killed inside its first commit leaves no inbox record and deletes nothing; the retry tears down once; a duplicate does nothing', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const event = expiredEvent(r.id, r.podName);

    const killed = await killingTheStart(() => h.event(cleanupPod, event));
    expect(killed.outcome).toBe('failed');
    expect(await inboxOf(event.id)).toBe(0);
    expect(await teardownOf(h, r.id)).toBeUndefined();
    expect(podDeletes(r.podName)).toEqual([]);

    const retried = await h.event(cleanupPod, event);
    expect(retried).toMatchObject({ outcome: 'accepted', summary: { started: 1, claimed: 1, resources_deleted: 1 } });
    expect(await inboxOf(event.id)).toBe(1);
    expect(podDeletes(r.podName)).toHaveLength(1);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone' });

    // Due again, so the duplicate would have work to do if it were not recognised.
    h.clock.advanceSeconds(31);
    const duplicate = await h.event(cleanupPod, event);
    expect(duplicate).toMatchObject({
      outcome: 'accepted',
      summary: { duplicate_events: 1, claimed: 0, pods_gone: 0 },
    });
    expect(podDeletes(r.podName)).toHaveLength(1);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone' });
    expect(await inboxOf(event.id)).toBe(1);
  });

  it('consumes an event about a reservation with nothing to tear down once, and starts nothing for it', async () => {
    const event = expiredEvent(`dddd${randomUUID().slice(4)}`, null);
    expect(await h.event(cleanupPod, event)).toMatchObject({
      outcome: 'accepted',
      summary: { started: 0, claimed: 0 },
    });
    expect(await h.event(cleanupPod, event)).toMatchObject({ outcome: 'accepted', summary: { duplicate_events: 1 } });
    expect(await inboxOf(event.id)).toBe(1);
    expect(await teardownOf(h, event.subject)).toBeUndefined();
  });
});
