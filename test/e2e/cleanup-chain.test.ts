/*
 * The whole teardown chain in the local stack, as in production: expire ends a reservation over
 * HTTP; reservation.expired travels through the outbox and the gateway to cleanup-pod, which
 * deletes the pod; a cron-connector tick lets cleanup-pod confirm it gone, wait for the volume to
 * detach, request the shutdown snapshot (pod.cleaned, again through the outbox and the gateway to
 * snapshot-sync) and release the disk; a later snapshot-sync tick sees the snapshot completed and
 * deletes the volume. Time is a ManualClock shared by the functions and the simulator.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { useTestDatabase } from '../support/database.js';
import { eventually } from '../support/eventually.js';
import { AVAILABILITY_UPDATER, useLocalStack } from '../support/local-stack.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const local = useLocalStack(db, { clock, lambdas: [AVAILABILITY_UPDATER] });
const one = (sql: string, params: unknown[]) => local.one(sql, params);

describe('expire → cleanup-pod → snapshot-sync in the local stack', () => {
  it('ends with the pod gone, the snapshot completed, the disk free, the volume deleted and one availability update', async () => {
    const id = 'c4a10001-0000-4000-8000-000000000001';
    const podName = 'gpu-dev-c4a10001';
    const volumeId = 'vol-0c4a1000000000001';
    const { sim } = local;
    const disk = await local.seedTeardownCandidate({
      id,
      podName,
      volumeId,
      expiresAt: new Date(clock.now().getTime() - 10 * 60_000),
      podLabels: { reservation: podName },
    });
    // As the origin's processor writes it: no owner label, a selector picking the pod by name.
    sim.kube.addService({
      name: `${podName}-ssh`,
      namespace: 'gpu-dev',
      type: 'NodePort',
      selector: { reservation: podName },
    });

    const expired = await fetch(`${local.url}/function/expire`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(await expired.json()).toMatchObject({ outcome: 'succeeded', summary: { expired: 1, events_delivered: 1 } });
    await local.untilPodDeletionRequested(id);
    expect(sim.kube.pod({ namespace: 'gpu-dev', name: podName })?.metadata.deletionTimestamp).toBeTruthy();
    expect(sim.aws.snapshots()).toEqual([]); // nothing is snapshotted while the pod may still write

    clock.advanceSeconds(31);
    sim.kube.tick();
    expect(await local.tick('cleanup-pod')).toMatchObject({
      outcome: 'succeeded',
      summary: { cleaned: 1, disks_released: 1, availability_updates: 1 },
    });
    await eventually(
      async () => (await one(`select state from snapshots where reservation_id = $1`, [id]))?.state === 'pending',
    );
    const [snapshot] = sim.aws.snapshots();
    expect(snapshot).toMatchObject({ volumeId, state: 'pending' });
    expect(sim.aws.volume(volumeId)).toBeDefined(); // kept until its snapshot completed

    clock.advanceSeconds(61);
    expect(await local.tick('snapshot-sync')).toMatchObject({
      outcome: 'succeeded',
      summary: { snapshots_completed: 1, volumes_deleted: 1 },
    });
    expect(sim.aws.snapshot(snapshot!.snapshotId)).toMatchObject({ state: 'completed' });
    expect(sim.aws.volume(volumeId)).toBeUndefined();
    expect(sim.kube.pod({ namespace: 'gpu-dev', name: podName })).toBeUndefined();
    expect(sim.kube.list('services', 'gpu-dev')).toEqual([]);
    expect(
      await one('select in_use, reservation_id, ebs_volume_id, snapshot_count from disks where disk_id = $1', [
        disk.disk_id,
      ]),
    ).toEqual({ in_use: false, reservation_id: null, ebs_volume_id: null, snapshot_count: 1 });
    expect(await one('select step from cleanup_progress where reservation_id = $1', [id])).toEqual({ step: 'done' });
    expect(sim.aws.invocations(AVAILABILITY_UPDATER)).toEqual([expect.objectContaining({ invocationType: 'Event' })]);
    const consumed = await db.pool.query(`select consumer, type from event_inbox order by consumer`);
    expect(consumed.rows).toEqual([
      { consumer: 'cleanup-pod', type: 'dev.devenv.lifecycle.reservation.expired' },
      { consumer: 'snapshot-sync', type: 'dev.devenv.lifecycle.pod.cleaned' },
    ]);
  });
});
