/*
 * cleanup-pod under the blast-radius breaker: a teardown's first delete is one destructive action
 * (however many steps it then moves), so a sweep that would start more teardowns than the limit
 * deletes nothing and ends halted; a teardown that already deleted and only waits or releases its
 * disk is not counted again, so waiting teardowns never trip the breaker.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, teardownOf } from './cleanup-pod-seed.js';

// No active reservations here: the limit is BREAKER_MIN_ACTIONS, 2 per 10 minutes.
const h = useFunctionHarness({ BREAKER_MIN_ACTIONS: '2', BREAKER_FLEET_PERCENT: '1', BREAKER_WINDOW_MINUTES: '10' });

const deletes = () => h.sim.requests.all().filter((q) => q.method === 'DELETE');

describe('cleanup-pod and the blast-radius breaker', () => {
  it('counts each teardown once, and does not count it again while it waits or releases its disk', async () => {
    const seeded = [await seedEndedReservation(h), await seedEndedReservation(h)];
    const first = await h.schedule(cleanupPod);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { destructive: 2, resources_deleted: 2 } });
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    // Within the same window: 2 more destructive actions would exceed the limit; these are not destructive.
    const second = await h.schedule(cleanupPod);
    expect(second.outcome).toBe('succeeded');
    expect(second.summary).toMatchObject({ cleaned: 2, disks_released: 2 });
    expect(second.summary.destructive ?? 0).toBe(0);
    for (const r of seeded) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
  });

  it('halts a sweep that would start more teardowns than the limit: nothing is deleted', async () => {
    h.clock.advanceMinutes(11); // out of the first test's window
    const seeded = [await seedEndedReservation(h), await seedEndedReservation(h), await seedEndedReservation(h)];
    const before = deletes().length;
    const result = await h.schedule(cleanupPod);
    expect(result.outcome).toBe('halted');
    expect(deletes().length).toBe(before);
    for (const r of seeded)
      expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })?.metadata.deletionTimestamp).toBeFalsy();
    const halted = await h.deps.pool.query(
      `select count(*)::int as n from decision_log where function = 'cleanup-pod' and outcome = 'halted' and action = 'tear-down'`,
    );
    expect(halted.rows[0].n).toBe(3);
  });
});
