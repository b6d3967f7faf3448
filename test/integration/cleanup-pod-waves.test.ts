/*
 * A run carries its teardowns for as long as its pace allows, however many waves the read backs of
 * the pods it deleted come in (issue 18): waiting for a grace period to end is not a pass that
 * uses up the run; it stops waiting for waves while there is time to carry what it held for them.
 * What is bounded is starting over: a teardown whose verification keeps finding
 * leftovers starts over a few times in a run, then waits for the next one, and holds no other
 * teardown up. The clock here can be waited on and moves before delete calls when told
 * (cleanup-pod-grace-clock.ts), so groups of teardowns deleted apart are read back in waves.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { useGraceClock } from './cleanup-pod-grace-clock.js';
import { seedEndedReservation, teardownOf, transitionsOf } from './cleanup-pod-seed.js';
import type { EndedReservation } from './cleanup-pod-seed.js';

const h = useFunctionHarness({ MAX_ITEMS: '1000' });

const { waits, secondsBeforeDeletes } = useGraceClock(h);
let listOwnedMany: typeof h.deps.resources.listOwnedMany;
beforeEach(() => {
  listOwnedMany = h.deps.resources.listOwnedMany;
});
afterEach(() => {
  h.deps.resources.listOwnedMany = listOwnedMany;
});

async function seed(count: number, options: { volume?: boolean } = {}): Promise<EndedReservation[]> {
  const seeded = [];
  for (let i = 0; i < count; i++) seeded.push(await seedEndedReservation(h, options));
  return seeded;
}

/** Verification finds a leftover of this reservation every time it looks, as if something re-created it. */
function leftoverKeepsComingBack(r: EndedReservation): void {
  h.deps.resources.listOwnedMany = async (namespace, targets) =>
    (await listOwnedMany.call(h.deps.resources, namespace, targets)).map((remaining, i) =>
      targets[i]!.owner.id === r.id && !(remaining instanceof Error)
        ? [...remaining, `configmap/${r.podName}-leftover`]
        : remaining,
    );
}

const leaseOf = async (id: string) =>
  (await h.deps.pool.query('select lease_owner from cleanup_progress where reservation_id = $1', [id])).rows[0];
const restartsOf = async (id: string) =>
  (await transitionsOf(h, id)).filter((transition) => transition === 'verify->delete_resources').length;

describe('cleanup-pod read-back waves do not use up the run', () => {
  it('finishes in one run teardowns whose pods are read back in four waves, reading their volumes together', async () => {
    // Groups of 50, 50, 50 and 1, deleted 1 s apart: four grace periods end apart, all before the stop point.
    const seeded = await seed(151);
    secondsBeforeDeletes.push(0, 1, 1, 1);
    h.sim.aws.clear();
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 151, cleaned: 151, disks_released: 151, retrying: 0 });
    expect(waits).toHaveLength(4);
    for (let i = 1; i < waits.length; i++) expect(waits[i]!.getTime()).toBeGreaterThan(waits[i - 1]!.getTime());
    for (const r of seeded) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    const describeVolumes = h.sim.aws.calls().filter((c) => c.action === 'DescribeVolumes');
    expect(describeVolumes).toHaveLength(1);
  });

  it('starts a teardown whose verification keeps finding leftovers over 3 times in a run, and no more', async () => {
    const [stuck] = await seed(1, { volume: false });
    leftoverKeepsComingBack(stuck!);
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 1, cleaned: 0, deferred: 1 });
    expect(await restartsOf(stuck!.id)).toBe(3);
    // Left at its first step, lease given back: the next run takes it up again.
    expect(await teardownOf(h, stuck!.id)).toMatchObject({ step: 'delete_resources' });
    expect(await leaseOf(stuck!.id)).toEqual({ lease_owner: null });

    h.deps.resources.listOwnedMany = listOwnedMany;
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, stuck!.id)).toMatchObject({ step: 'done' });
    expect(await restartsOf(stuck!.id)).toBe(3);
  });

  it('does not let a teardown that keeps starting over hold up the others or their read-back waves', async () => {
    const [stuck] = await seed(1, { volume: false });
    const others = await seed(150);
    leftoverKeepsComingBack(stuck!);
    // The stuck one and 49 others, then two more groups of 50: three waves besides the restarts.
    secondsBeforeDeletes.push(0, 1, 1);
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 151, cleaned: 150, deferred: 1 });
    expect(waits).toHaveLength(3);
    expect(await restartsOf(stuck!.id)).toBe(3);
    for (const r of others) expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });

    h.deps.resources.listOwnedMany = listOwnedMany;
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, stuck!.id)).toMatchObject({ step: 'done' });
  });

  it('stops waiting for waves while it has the time to carry the teardowns held for them', async () => {
    const seeded = await seed(150);
    // Waves at 32, 34 and 39 s of the run: the last is before the stop point (40 s), but 7 s after
    // the first, leaving 1 s to carry all 150 (held at the detach wait until then).
    secondsBeforeDeletes.push(0, 2, 5);
    h.sim.aws.clear();
    const result = await h.schedule(cleanupPod);
    expect(result.summary).toMatchObject({ claimed: 150, cleaned: 100, disks_released: 100 });
    expect(waits).toHaveLength(2);
    const steps = await Promise.all(seeded.map((r) => teardownOf(h, r.id)));
    expect(steps.filter((t) => t.step === 'done')).toHaveLength(100);
    const saved = steps.filter((t) => t.step !== 'done');
    expect(saved).toHaveLength(50);
    for (const t of saved) expect(t).toMatchObject({ step: 'await_gone', last_error: 'pod still terminating' });
    expect(h.sim.aws.calls().filter((c) => c.action === 'DescribeVolumes')).toHaveLength(1);
  });
});
