/*
 * The whole teardown chain in the local stack, as in production: expire ends a reservation over
 * HTTP; reservation.expired travels through the outbox and the gateway to cleanup-pod, which
 * deletes the pod; a cron-connector tick lets cleanup-pod confirm it gone, wait for the volume to
 * detach, request the shutdown snapshot (pod.cleaned, again through the outbox and the gateway to
 * snapshot-sync) and release the disk; a later snapshot-sync tick sees the snapshot completed and
 * deletes the volume. Time is a ManualClock shared by the functions and the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { ManualClock } from '../../shared/clock.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from '../support/database.js';
import { insertDisk, insertReservation } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';

const UPDATER = 'gpu-dev-availability-updater';
const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
let stack: LocalStack;
let sim: Sim;

beforeAll(async () => {
  stack = await startLocalStack({
    env: { DATABASE_URL: db.url, SECRETS_DIR: '/nonexistent', LOG_LEVEL: 'silent' },
    port: 0,
    demo: false,
    schedules: false,
    clock,
  });
  if (!stack.cluster.simulated) throw new Error('the e2e chain needs the simulated cluster');
  sim = stack.cluster.sim;
  sim.aws.addFunction(UPDATER);
});
afterAll(() => stack?.stop());

/** A tick exactly as the cron-connector sends it: empty body, its two headers. */
async function cronTick(fn: string): Promise<{ outcome: string; summary: Record<string, number> }> {
  const answer = await fetch(`${stack.url}/function/${fn}`, {
    method: 'POST',
    headers: { 'x-connector': 'cron-connector', 'x-topic': 'cron-function' },
  });
  expect(answer.status).toBe(200);
  return (await answer.json()) as { outcome: string; summary: Record<string, number> };
}

const one = async (sql: string, params: unknown[]) => (await db.pool.query(sql, params)).rows[0];

describe('expire → cleanup-pod → snapshot-sync in the local stack', () => {
  it('ends with the pod gone, the snapshot completed, the disk free, the volume deleted and one availability update', async () => {
    const id = 'c4a10001-0000-4000-8000-000000000001';
    const podName = 'gpu-dev-c4a10001';
    const volumeId = 'vol-0c4a1000000000001';
    await insertReservation(db.pool, {
      reservation_id: id,
      expires_at: new Date(clock.now().getTime() - 10 * 60_000),
      pod_name: podName,
      namespace: 'gpu-dev',
      disk_name: 'home',
      ebs_volume_id: volumeId,
    });
    const disk = await insertDisk(db.pool, {
      user_id: 'dev@example.com',
      disk_name: 'home',
      in_use: true,
      reservation_id: id,
      ebs_volume_id: volumeId,
    });
    sim.kube.addPod({
      name: podName,
      namespace: 'gpu-dev',
      labels: { 'reservation-id': id, reservation: podName },
      volumes: [{ name: 'home', awsElasticBlockStore: { volumeID: volumeId } }],
    });
    // As the origin's processor writes it: no owner label, a selector picking the pod by name.
    sim.kube.addService({
      name: `${podName}-ssh`,
      namespace: 'gpu-dev',
      type: 'NodePort',
      selector: { reservation: podName },
    });
    sim.aws.addVolume({
      volumeId,
      sizeGiB: 100,
      attachedTo: podName,
      tags: { 'gpu-dev-user': 'dev@example.com', disk_name: 'home' },
    });

    const expired = await fetch(`${stack.url}/function/expire`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(await expired.json()).toMatchObject({ outcome: 'succeeded', summary: { expired: 1, events_delivered: 1 } });
    await eventually(
      async () =>
        (await one('select step from cleanup_progress where reservation_id = $1', [id]))?.step === 'await_gone',
    );
    // The event run may still hold the teardown's lease after its step commits; the tick comes after it.
    await eventually(
      async () =>
        (
          await one(
            `select outcome from function_runs where function = 'cleanup-pod' and trigger = 'event' and finished_at is not null`,
            [],
          )
        )?.outcome === 'accepted',
    );
    expect(sim.kube.pod({ namespace: 'gpu-dev', name: podName })?.metadata.deletionTimestamp).toBeTruthy();
    expect(sim.aws.snapshots()).toEqual([]); // nothing is snapshotted while the pod may still write

    clock.advanceSeconds(31);
    sim.kube.tick();
    expect(await cronTick('cleanup-pod')).toMatchObject({
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
    expect(await cronTick('snapshot-sync')).toMatchObject({
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
    expect(sim.aws.invocations(UPDATER)).toEqual([expect.objectContaining({ invocationType: 'Event' })]);
    const consumed = await db.pool.query(`select consumer, type from event_inbox order by consumer`);
    expect(consumed.rows).toEqual([
      { consumer: 'cleanup-pod', type: 'dev.devenv.lifecycle.reservation.expired' },
      { consumer: 'snapshot-sync', type: 'dev.devenv.lifecycle.pod.cleaned' },
    ]);
  });
});
