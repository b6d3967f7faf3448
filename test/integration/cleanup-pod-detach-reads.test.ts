/*
 * The detach wait reads its volumes once per run, together (issue 18: EC2 reads batched per
 * sweep): teardowns reach await_detach at different moments of a run (pods whose grace periods
 * end apart are read back in separate waves; a teardown already waiting at the detach step is
 * there from the start), and all of them are read by ⌈volumes / 200⌉ DescribeVolumes calls. The
 * clock here can be waited on, as the system clock can: waiting moves it and the simulated kubelet
 * finishes the pods whose grace ended. The clock moves before a delete call when told, so groups of
 * teardowns deleted one after the other have grace periods that end apart.
 */
import { describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { useGraceClock } from './cleanup-pod-grace-clock.js';
import { seedEndedReservation, teardownOf, withClockJumpAtFirstRequest } from './cleanup-pod-seed.js';
import type { EndedReservation } from './cleanup-pod-seed.js';

const h = useFunctionHarness({ MAX_ITEMS: '1000' });

const { waits, secondsBeforeDeletes } = useGraceClock(h);

/** The volume ids of each DescribeVolumes call since the simulator's calls were last cleared. */
const describeVolumesCalls = () =>
  h.sim.aws
    .calls()
    .filter((c) => c.action === 'DescribeVolumes')
    .map((c) =>
      Object.entries(c.params)
        .filter(([key]) => /^(VolumeId\.\d+|Filter\.\d+\.Value\.\d+)$/.test(key))
        .map(([, id]) => id),
    );

async function seed(count: number): Promise<EndedReservation[]> {
  const seeded = [];
  for (let i = 0; i < count; i++) seeded.push(await seedEndedReservation(h));
  return seeded;
}

describe('cleanup-pod reads the volumes waiting for detach once per run', () => {
  it('reads teardowns that reach the detach wait in two read-back waves with one DescribeVolumes', async () => {
    const seeded = await seed(60);
    // The first group of 50 is deleted 2 s before the second: its pods' grace periods end first.
    secondsBeforeDeletes.push(0, 2);
    h.sim.aws.clear();
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 60, cleaned: 60, disks_released: 60 });
    // Two read backs, one per group: the teardowns reach the detach wait apart.
    expect(waits).toHaveLength(2);
    expect(waits[0]!.getTime()).toBeLessThan(waits[1]!.getTime());
    const calls = describeVolumesCalls();
    expect(calls).toHaveLength(1);
    expect(new Set(calls[0])).toEqual(new Set(seeded.map((r) => r.volumeId)));
    for (const r of seeded) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
  });

  it(
    'reads 260 volumes reaching the detach wait in waves of 250 and 10 with ⌈260 / 200⌉ = 2 calls',
    { timeout: 60_000 },
    async () => {
      const seeded = await seed(260);
      // Five groups of 50 are deleted, then the clock moves 2 s before the last group.
      secondsBeforeDeletes.push(0, 0, 0, 0, 0, 2);
      h.sim.aws.clear();
      const result = await h.schedule(cleanupPod);
      expect(result.summary).toMatchObject({ claimed: 260, cleaned: 260, disks_released: 260 });
      expect(waits).toHaveLength(2);
      const calls = describeVolumesCalls();
      expect(calls.map((ids) => ids.length)).toEqual([200, 60]);
      expect(new Set(calls.flat())).toEqual(new Set(seeded.map((r) => r.volumeId)));
    },
  );

  it('reads a teardown already waiting at the detach step with the ones whose pods this run deletes', async () => {
    // A first run leaves these waiting for their volumes to detach (it takes 2 minutes here).
    h.sim.aws.setVolumeTimings({ detachSeconds: 120 });
    const waiting = await seed(3);
    await h.schedule(cleanupPod);
    for (const r of waiting) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_detach' });
    h.sim.aws.setVolumeTimings({ detachSeconds: 0 });
    h.clock.advanceSeconds(121);
    const fresh = await seed(5);
    h.sim.aws.clear();
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 8, cleaned: 8 });
    const calls = describeVolumesCalls();
    expect(calls).toHaveLength(1);
    expect(new Set(calls[0])).toEqual(new Set([...waiting, ...fresh].map((r) => r.volumeId)));
  });

  it('still reads the teardowns held at the detach wait when the pods deleted in the run cannot be waited for', async () => {
    h.sim.aws.setVolumeTimings({ detachSeconds: 120 });
    const waiting = await seed(3);
    await h.schedule(cleanupPod);
    h.sim.aws.setVolumeTimings({ detachSeconds: 0 });
    h.clock.advanceSeconds(121);
    const fresh = await seed(2);
    waits.length = 0;
    h.sim.aws.clear();
    // 10 s of the 50 s budget pass as soon as the run reaches the cluster: 10 + 32 s is past 80%.
    const result = await withClockJumpAtFirstRequest(h, 10, () => h.schedule(cleanupPod));
    expect(result.summary).toMatchObject({ claimed: 5, resources_deleted: 2, cleaned: 3 });
    expect(waits).toEqual([]);
    expect(describeVolumesCalls()).toEqual([expect.arrayContaining(waiting.map((r) => r.volumeId))]);
    for (const r of waiting) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    for (const r of fresh)
      expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone', last_error: 'pod still terminating' });
  });

  it('reads the waves its passes carried before saving the pods it will not read back, while it may still start groups', async () => {
    const seeded = await seed(150);
    // Three groups of 50, the last deleted 10 s after the second: its pods' grace (10 + 1 + 32 s)
    // ends past the stop point (40 s), so two read-back waves are carried and the third is not.
    secondsBeforeDeletes.push(0, 1, 10);
    // Saving the pods not read back (a step that reads nothing) takes the run past its stop point.
    const podsEvidence = h.deps.resources.podsEvidence;
    h.deps.resources.podsEvidence = (namespace, pods, concurrency) => {
      if (pods.length === 0) h.clock.advanceSeconds(20);
      return podsEvidence.call(h.deps.resources, namespace, pods, concurrency);
    };
    h.sim.aws.clear();
    try {
      const result = await h.schedule(cleanupPod);
      expect(result.summary).toMatchObject({ claimed: 150, cleaned: 100, disks_released: 100 });
    } finally {
      h.deps.resources.podsEvidence = podsEvidence;
    }
    expect(waits).toHaveLength(2);
    const calls = describeVolumesCalls();
    expect(calls).toHaveLength(1);
    const steps = await Promise.all(seeded.map(async (r) => ({ r, ...(await teardownOf(h, r.id)) })));
    const done = steps.filter((t) => t.step === 'done').map((t) => t.r.volumeId);
    expect(new Set(calls[0])).toEqual(new Set(done));
    const saved = steps.filter((t) => t.step !== 'done');
    expect(saved).toHaveLength(50);
    for (const t of saved) expect(t).toMatchObject({ step: 'await_gone', last_error: 'pod still terminating' });
  });
});
