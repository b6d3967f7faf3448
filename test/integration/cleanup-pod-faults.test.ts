/*
 * cleanup-pod when the world misbehaves: Kubernetes 5xx and EC2 throttling mid-teardown leave a
 * saved step that the next run continues from, without skipping one (no disk released before the
 * pod is gone, no snapshot before the volume is detached); a lost reservation.expired event is
 * caught by the sweep; pods are found by the full reservation id; a pod stuck terminating
 * is deleted again with grace 0; two runners never advance the same teardown twice.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { EventTypes } from '../../shared/events/types.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';
import { diskOf, seedEndedReservation, teardownOf, transitionsOf } from './cleanup-pod-seed.js';

const UPDATER = 'gpu-dev-availability-updater';
const h = useFunctionHarness({ AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER });
const FULL_ORDER = [
  'delete_resources->await_gone',
  'await_gone->await_detach',
  'await_detach->request_snapshot',
  'request_snapshot->release_disk',
  'release_disk->verify',
  'verify->done',
];

beforeEach(() => {
  h.sim.faults.clear();
  h.sim.aws.clearFaults();
  h.sim.aws.addFunction(UPDATER);
});

const expiredEvent = (reservationId: string, podName: string) => ({
  type: EventTypes.reservationExpired,
  source: '/devenv-lifecycle/expire',
  subject: reservationId,
  data: {
    reservationId,
    previousStatus: 'active' as const,
    reason: 'deadline',
    podName,
    namespace: 'gpu-dev',
    expiresAt: null,
    endedAt: h.clock.now().toISOString(),
  },
});

/** cleanup-pod's verification outcomes so far, as its metric counts them. */
async function verifyOutcomes(): Promise<Record<'retry' | 'leftovers' | 'done', number>> {
  const values = (await h.deps.metrics.actions.get()).values.filter(
    (v) => v.labels.function === 'cleanup-pod' && v.labels.kind === 'verify',
  );
  const count = (outcome: string) => values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { retry: count('retry'), leftovers: count('leftovers'), done: count('done') };
}

/** The first run deletes; after the grace period the pod is gone from the simulated cluster. */
async function deletedAndGone(): Promise<void> {
  await h.schedule(cleanupPod);
  h.clock.advanceSeconds(31);
  h.sim.kube.tick();
}

describe('cleanup-pod resumes after faults', () => {
  it('keeps its step when Kubernetes answers 5xx to a delete, and the next run finishes the teardown', async () => {
    const r = await seedEndedReservation(h);
    h.sim.faults.add({ method: 'DELETE', path: `/api/v1/namespaces/gpu-dev/services/${r.podName}-ssh`, status: 503 });
    const first = await h.schedule(cleanupPod);
    expect(first.summary).toMatchObject({ retrying: 1, resources_deleted: 0 });
    expect(await teardownOf(h, r.id)).toMatchObject({
      step: 'delete_resources',
      attempts: 1,
      last_error: expect.stringContaining(`${r.podName}-ssh`),
    });
    expect(h.sim.kube.list('services', 'gpu-dev').map((s) => s.metadata.name)).toContain(`${r.podName}-ssh`);
    expect((await diskOf(h, r.diskId)).in_use).toBe(true);

    h.sim.faults.clear();
    h.clock.advanceSeconds(31);
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone' });
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    expect((await h.schedule(cleanupPod)).summary).toMatchObject({ cleaned: 1, disks_released: 1 });
    expect(await transitionsOf(h, r.id)).toEqual(FULL_ORDER);
    expect(h.sim.kube.list('services', 'gpu-dev').map((s) => s.metadata.name)).not.toContain(`${r.podName}-ssh`);
  });

  it('does not request the snapshot or release the disk while EC2 throttles the volume check', async () => {
    const r = await seedEndedReservation(h);
    await deletedAndGone();
    h.sim.aws.addFault({ service: 'ec2', action: 'DescribeVolumes', times: 10, fault: { kind: 'throttle' } });
    const throttled = await h.schedule(cleanupPod);
    expect(throttled.summary).toMatchObject({ pods_gone: 1, retrying: 1, disks_released: 0 });
    expect(await teardownOf(h, r.id)).toMatchObject({
      step: 'await_detach',
      last_error: expect.stringContaining('could not read the volume'),
    });
    expect(await transitionsOf(h, r.id)).not.toContain('await_detach->request_snapshot');
    expect((await diskOf(h, r.diskId)).in_use).toBe(true);

    h.sim.aws.clearFaults();
    h.clock.advanceSeconds(31);
    expect((await h.schedule(cleanupPod)).summary).toMatchObject({ cleaned: 1, disks_released: 1 });
    expect(await transitionsOf(h, r.id)).toEqual(FULL_ORDER);
    expect(await diskOf(h, r.diskId)).toEqual({ in_use: false, reservation_id: null });
  });

  it('waits while the volume stays attached after the pod is gone (no snapshot of a live disk, A-6)', async () => {
    const r = await seedEndedReservation(h);
    await h.schedule(cleanupPod);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    h.sim.aws.attachVolume(r.volumeId!, 'another-node'); // a stuck detach
    for (let run = 0; run < 3; run++) {
      await h.schedule(cleanupPod);
      h.clock.advanceSeconds(31);
    }
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_detach' });
    expect((await diskOf(h, r.diskId)).in_use).toBe(true);
    h.sim.aws.detachVolume(r.volumeId!);
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
  });

  it('does not call the teardown done while something labelled is left, and retries when verification cannot list', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const before = await verifyOutcomes();
    await deletedAndGone();
    h.sim.faults.add({ method: 'GET', path: /\/ingresses\?/, status: 500 });
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'verify', last_error: 'could not verify the teardown' });

    h.sim.faults.clear();
    h.sim.kube.addIngress({
      name: `${r.podName}-web`,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': r.id },
      host: 'dev.example.com',
    });
    h.clock.advanceSeconds(31);
    await h.schedule(cleanupPod); // verify finds the ingress, starts again, deletes it, verifies
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(h.sim.kube.list('ingresses', 'gpu-dev')).toEqual([]);
    expect(await transitionsOf(h, r.id)).toContain('verify->delete_resources');
    const after = await verifyOutcomes();
    expect({
      retry: after.retry - before.retry,
      leftovers: after.leftovers - before.leftovers,
      done: after.done - before.done,
    }).toEqual({ retry: 1, leftovers: 1, done: 1 });
  });
});

describe('cleanup-pod finds what to tear down', () => {
  it('catches a lost reservation.expired event with the sweep, and leaves active reservations alone', async () => {
    const lost = await seedEndedReservation(h, { status: 'cancelled' });
    const active = await insertReservation(h.deps.pool, {
      reservation_id: 'active00-0000-4000-8000-000000000000',
      status: 'active',
    });
    h.sim.kube.addPod({
      name: active.pod_name!,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': active.reservation_id },
    });
    const sweep = await h.schedule(cleanupPod);
    expect(sweep.summary).toMatchObject({ started: 1, resources_deleted: 1 });
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: lost.podName })?.metadata.deletionTimestamp).toBeTruthy();
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: active.pod_name! })?.metadata.deletionTimestamp).toBeFalsy();
    expect(await teardownOf(h, active.reservation_id)).toBeUndefined();
  });

  it('deletes by the full reservation id: a pod whose name shares the 8-character prefix survives (A-17)', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    const neighbourId = `${r.id.slice(0, 8)}-ffff-4000-8000-ffffffffffff`;
    await insertReservation(h.deps.pool, { reservation_id: neighbourId, status: 'active', pod_name: `${r.podName}-b` });
    h.sim.kube.addPod({ name: `${r.podName}-b`, namespace: 'gpu-dev', labels: { 'reservation-id': neighbourId } });
    h.sim.kube.addService({
      name: `${r.podName}-b-ssh`,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': neighbourId },
    });
    await h.event(cleanupPod, expiredEvent(r.id, r.podName));
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: `${r.podName}-b` })?.metadata.deletionTimestamp).toBeFalsy();
    expect(h.sim.kube.list('services', 'gpu-dev').map((s) => s.metadata.name)).toContain(`${r.podName}-b-ssh`);
  });

  it('deletes a pod stuck terminating again with grace 0 after five minutes of waiting', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    await h.schedule(cleanupPod);
    // The clock moves but the simulated kubelet never finishes the pod (no tick): it is stuck.
    for (let run = 0; run < 10; run++) {
      h.clock.advanceSeconds(31);
      await h.schedule(cleanupPod);
      if (!h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })) break;
    }
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })).toBeUndefined();
    const forced = h.sim.requests
      .all()
      .filter(
        (q) =>
          q.method === 'DELETE' && q.path.endsWith(`/pods/${r.podName}`) && q.query.get('gracePeriodSeconds') === '0',
      );
    expect(forced.length).toBeGreaterThan(0);
    h.clock.advanceSeconds(31);
    await h.schedule(cleanupPod);
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
  });

  it('does not force a pod terminating for less than five minutes, however many retries it took', async () => {
    const r = await seedEndedReservation(h, { volume: false });
    await h.schedule(cleanupPod);
    for (let run = 0; run < 9; run++) {
      // 279 s in await_gone, nine retries
      h.clock.advanceSeconds(31);
      await h.schedule(cleanupPod);
    }
    const forced = h.sim.requests
      .all()
      .filter(
        (q) =>
          q.method === 'DELETE' && q.path.endsWith(`/pods/${r.podName}`) && q.query.get('gracePeriodSeconds') === '0',
      );
    expect(forced).toEqual([]);
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })?.metadata.deletionTimestamp).toBeTruthy();
    expect(await teardownOf(h, r.id)).toMatchObject({ step: 'await_gone' });
  });

  it('advances at most maxItems teardowns in a run; the rest wait for the next one', async () => {
    const seeded = await Promise.all([1, 2, 3].map(() => seedEndedReservation(h, { volume: false })));
    const capped = await h.schedule(cleanupPod, { maxItems: 2 });
    expect(capped.summary).toMatchObject({ started: 3, claimed: 2, resources_deleted: 2 });
    const steps = await Promise.all(seeded.map(async (r) => (await teardownOf(h, r.id)).step));
    expect(steps.sort()).toEqual(['await_gone', 'await_gone', 'delete_resources']);
    expect((await h.schedule(cleanupPod, { maxItems: 2 })).summary).toMatchObject({ claimed: 1, resources_deleted: 1 });
  });

  it('lets only one of two concurrent runners advance a teardown', async () => {
    const seeded = await Promise.all([1, 2, 3].map(() => seedEndedReservation(h, { volume: false })));
    for (const r of seeded) h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: r.podName });
    const events = seeded.map((r) => h.event(cleanupPod, expiredEvent(r.id, r.podName)));
    await Promise.all([h.manual(cleanupPod), ...events]);
    for (const r of seeded) {
      expect(await teardownOf(h, r.id)).toMatchObject({ step: 'done' });
      expect(await transitionsOf(h, r.id)).toEqual([
        'delete_resources->await_gone',
        'await_gone->await_detach',
        'await_detach->release_disk',
        'release_disk->verify',
        'verify->done',
      ]);
    }
  });
});
