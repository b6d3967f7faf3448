/* cleanup-pod end to end against the simulated cluster and AWS, with a real database. */
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';
import { diskOf, seedEndedReservation, teardownOf, transitionsOf } from './cleanup-pod-seed.js';

const UPDATER = 'gpu-dev-availability-updater';
const h = useFunctionHarness({ AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER });
const endedReservation = (options: { volume?: boolean } = {}) => seedEndedReservation(h, options);
const progress = (id: string) => teardownOf(h, id);
const diskOfId = (diskId: string) => diskOf(h, diskId);

beforeEach(() => {
  h.sim.faults.clear();
  h.sim.aws.addFunction(UPDATER);
});

describe('cleanup-pod', () => {
  it('deletes the pod, waits for it and the volume, requests the snapshot, releases the disk, verifies, once', async () => {
    const r = await endedReservation();
    const first = await h.schedule(cleanupPod);
    expect(first.outcome).toBe('succeeded');
    expect(await progress(r.id)).toMatchObject({ step: 'await_gone' });
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })?.metadata.deletionTimestamp).toBeTruthy();
    expect(h.sim.kube.list('services', 'gpu-dev').map((s) => s.metadata.name)).not.toContain(`${r.podName}-ssh`);
    expect((await diskOfId(r.diskId)).in_use).toBe(true); // never released while the pod may still run

    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    const second = await h.schedule(cleanupPod);
    expect(second.summary).toMatchObject({ cleaned: 1, disks_released: 1, availability_updates: 1 });
    expect(await progress(r.id)).toMatchObject({ step: 'done' });
    expect(await diskOfId(r.diskId)).toEqual({ in_use: false, reservation_id: null });
    expect(await transitionsOf(h, r.id)).toEqual([
      'delete_resources->await_gone',
      'await_gone->await_detach',
      'await_detach->request_snapshot',
      'request_snapshot->release_disk',
      'release_disk->verify',
      'verify->done',
    ]);
    h.clock.advanceSeconds(60);
    expect((await h.schedule(cleanupPod)).summary.claimed).toBe(0);
    // Once, by the run that saw the pod gone and the disk released; neither the first run (the pod
    // was still terminating) nor the idle third run frees any capacity.
    expect(h.sim.aws.invocations(UPDATER)).toEqual([expect.objectContaining({ invocationType: 'Event' })]);
  });

  it('never releases a disk a newer reservation now holds (A-4)', async () => {
    const r = await endedReservation({ volume: false });
    await insertReservation(h.deps.pool, { reservation_id: `newer-${r.id}`, status: 'active' });
    await h.deps.pool.query('update disks set reservation_id = $2 where disk_id = $1', [r.diskId, `newer-${r.id}`]);
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: r.podName });
    await h.schedule(cleanupPod);
    expect(await progress(r.id)).toMatchObject({ step: 'done' });
    expect(await diskOfId(r.diskId)).toEqual({ in_use: true, reservation_id: `newer-${r.id}` });
  });

  it('does not move on while the API cannot say whether the pod is gone', async () => {
    const r = await endedReservation();
    await h.schedule(cleanupPod);
    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    h.sim.faults.add({ method: 'GET', path: /\/pods\//, status: 503 });
    const result = await h.schedule(cleanupPod);
    expect(result.summary.retrying).toBeGreaterThan(0);
    expect(await progress(r.id)).toMatchObject({ step: 'await_gone' });
    expect((await diskOfId(r.diskId)).in_use).toBe(true);
  });

  it('keeps a volume-less teardown going without a snapshot and changes nothing in a dry run', async () => {
    const r = await endedReservation({ volume: false });
    const dry = await h.manual(cleanupPod, { dryRun: true });
    expect(dry.items).toEqual(expect.arrayContaining([{ reservationId: r.id, step: 'delete_resources' }]));
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })?.metadata.deletionTimestamp).toBeFalsy();
  });
});
