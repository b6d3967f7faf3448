/*
 * A large sweep ends inside its run budget: teardowns advance 50 at a time and no group starts
 * after 80% of the budget; what is left keeps its step, gives its lease back and is taken by the
 * next run. The clock here jumps 9 s (of a 10 s budget) once the first group's listing is sent.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { seedEndedReservation, withClockJumpAtFirstRequest } from './cleanup-pod-seed.js';

const h = useFunctionHarness({ RUN_BUDGET_SECONDS: '10', MAX_ITEMS: '100' });

const steps = async () =>
  (
    await h.deps.pool.query<{ step: string; n: number; leased: number }>(
      `select step, count(*)::int as n, count(lease_owner)::int as leased from cleanup_progress group by step order by step`,
    )
  ).rows;

describe('cleanup-pod run budget', () => {
  it('starts no group of teardowns after 80% of the budget; the rest waits, unleased, for the next run', async () => {
    for (let i = 0; i < 60; i++) await seedEndedReservation(h, { volume: false });
    const base = h.clock.now().getTime();
    // The clock moves 9 s as soon as the sweep has sent its first request to the cluster.
    const result = await withClockJumpAtFirstRequest(h, 9, () => h.schedule(cleanupPod));
    expect(result.summary).toMatchObject({ claimed: 60, resources_deleted: 50, deferred: 60 });
    expect(h.clock.now().getTime()).toBe(base);
    expect(await steps()).toEqual([
      { step: 'await_gone', n: 50, leased: 0 },
      { step: 'delete_resources', n: 10, leased: 0 },
    ]);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    await h.schedule(cleanupPod);
    expect((await steps()).find((row) => row.step === 'delete_resources')).toBeUndefined();
  });
});
