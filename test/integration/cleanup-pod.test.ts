/* cleanup-pod end to end against the simulated cluster and AWS, with a real database. */
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupPod } from '../../functions/cleanup-pod/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';

const UPDATER = 'gpu-dev-availability-updater';
const h = useFunctionHarness({ AVAILABILITY_UPDATER_FUNCTION_NAME: UPDATER });
let serial = 0;

async function endedReservation(options: { volume?: boolean } = {}) {
  serial += 1;
  const id = `cccc${String(serial).padStart(4, '0')}-0000-4000-8000-000000000000`;
  const podName = `gpu-dev-${id.slice(0, 8)}`;
  const volumeId = options.volume === false ? null : `vol-0000000000000${String(serial).padStart(4, '0')}`;
  await insertReservation(h.deps.pool, { reservation_id: id, status: 'expired', pod_name: podName, namespace: 'gpu-dev', ebs_volume_id: volumeId, disk_name: `home-${serial}`, status_changed_at: h.clock.now() });
  const disk = await insertDisk(h.deps.pool, { user_id: 'dev@example.com', disk_name: `home-${serial}`, in_use: true, reservation_id: id, ebs_volume_id: volumeId });
  const volumes = volumeId ? [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }] : undefined;
  h.sim.kube.addPod({ name: podName, namespace: 'gpu-dev', labels: { 'reservation-id': id }, ...(volumes && { volumes }) });
  h.sim.kube.addService({ name: `${podName}-ssh`, namespace: 'gpu-dev' });
  h.sim.kube.addService({ name: `${podName}-web`, namespace: 'gpu-dev', labels: { 'reservation-id': id } });
  if (volumeId) h.sim.aws.addVolume({ volumeId, sizeGiB: 50, attachedTo: podName });
  return { id, podName, volumeId, disk };
}

const progress = async (id: string) => (await h.deps.pool.query('select step, attempts from cleanup_progress where reservation_id = $1', [id])).rows[0];
const diskOf = async (diskId: string) => (await h.deps.pool.query('select in_use, reservation_id from disks where disk_id = $1', [diskId])).rows[0];

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
    expect((await diskOf(r.disk.disk_id)).in_use).toBe(true); // never released while the pod may still run

    h.clock.advanceSeconds(31);
    h.sim.kube.tick();
    const second = await h.schedule(cleanupPod);
    expect(second.summary).toMatchObject({ cleaned: 1, disks_released: 1, availability_updates: 1 });
    expect(await progress(r.id)).toMatchObject({ step: 'done' });
    expect(await diskOf(r.disk.disk_id)).toEqual({ in_use: false, reservation_id: null });
    const { rows } = await h.deps.pool.query(`select action from decision_log where entity_id = $1 order by id`, [r.id]);
    expect(rows.map((row) => row.action)).toEqual(['delete_resources->await_gone', 'await_gone->await_detach', 'await_detach->request_snapshot', 'request_snapshot->release_disk', 'release_disk->verify', 'verify->done']);
    h.clock.advanceSeconds(60);
    expect((await h.schedule(cleanupPod)).summary.claimed).toBe(0);
    // Once per run that tore something down (not once per pod); the idle third run adds none.
    expect(h.sim.aws.invocations(UPDATER)).toHaveLength(2);
  });

  it('never releases a disk a newer reservation now holds (A-4)', async () => {
    const r = await endedReservation({ volume: false });
    await insertReservation(h.deps.pool, { reservation_id: `newer-${r.id}`, status: 'active' });
    await h.deps.pool.query('update disks set reservation_id = $2 where disk_id = $1', [r.disk.disk_id, `newer-${r.id}`]);
    h.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: r.podName });
    await h.schedule(cleanupPod);
    expect(await progress(r.id)).toMatchObject({ step: 'done' });
    expect(await diskOf(r.disk.disk_id)).toEqual({ in_use: true, reservation_id: `newer-${r.id}` });
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
    expect((await diskOf(r.disk.disk_id)).in_use).toBe(true);
  });

  it('keeps a volume-less teardown going without a snapshot and changes nothing in a dry run', async () => {
    const r = await endedReservation({ volume: false });
    const dry = await h.manual(cleanupPod, { dryRun: true });
    expect(dry.items).toEqual(expect.arrayContaining([{ reservationId: r.id, step: 'delete_resources' }]));
    expect(h.sim.kube.pod({ namespace: 'gpu-dev', name: r.podName })?.metadata.deletionTimestamp).toBeFalsy();
  });
});
