/*
 * Polling pending snapshots, the disk counters per snapshot id, and the volume after its
 * shutdown snapshot: deleted only once the snapshot completed, only while detached, never when a
 * newer reservation may use it.
 */
import { describe, expect, it } from 'vitest';
import { decisionsFor } from '../../shared/db/queries/decisions.js';
import { EventTypes } from '../../shared/events/types.js';
import { insertReservation } from '../support/fixtures.js';
import { diskCounters, seedTeardown, snapshotRows, useSyncHarness, useSyncHarnessOn } from './snapshot-sync-harness.js';
import type { Teardown } from './snapshot-sync-harness.js';

const { db, h } = useSyncHarness();

const rowsOf = (t: Teardown) => snapshotRows(db, 'reservation_id = $1', [t.reservationId]);

/** A teardown whose shutdown snapshot has been requested and is pending in EC2. */
async function snapshotted(
  options: Parameters<typeof seedTeardown>[2] = {},
): Promise<Teardown & { snapshotId: string }> {
  const t = await seedTeardown(h, db, options);
  expect((await h.runEvent(t.podCleaned)).summary.snapshots_created).toBe(1);
  return { ...t, snapshotId: h.aws.sim.snapshots().find((s) => s.volumeId === t.volumeId)!.snapshotId };
}

describe('polling', () => {
  it("completes a snapshot and counts it on its disk exactly once, leaving other snapshots' share alone (A-10)", async () => {
    const t = await seedTeardown(h, db);
    // Something else is already backing this disk up (an origin snapshot in flight).
    await db.pool.query(
      'update disks set pending_snapshot_count = 1, is_backing_up = true, snapshot_count = 4 where disk_id = $1',
      [t.diskId],
    );
    h.aws.sim.addSnapshot({ volumeId: t.volumeId, tags: { 'gpu-dev-user': t.userId, disk_name: t.diskName } }); // old, completed
    await h.runEvent(t.podCleaned);
    expect(await diskCounters(db, t.diskId)).toMatchObject({
      pending_snapshot_count: 2,
      is_backing_up: true,
      snapshot_count: 4,
    });

    h.clock.advanceSeconds(30);
    expect((await h.run()).summary).toMatchObject({ snapshots_completed: 0, snapshots_still_pending: 1 });
    expect(await diskCounters(db, t.diskId)).toMatchObject({ pending_snapshot_count: 2, snapshot_count: 4 });

    h.clock.advanceSeconds(30);
    expect((await h.run()).summary).toMatchObject({ snapshots_completed: 1 });
    const counters = {
      pending_snapshot_count: 1,
      is_backing_up: true,
      snapshot_count: 5,
      size_gb: 100,
      last_snapshot_at: h.clock.now(),
    };
    expect(await diskCounters(db, t.diskId)).toMatchObject(counters);
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ state: 'completed' })]);
    expect(h.delivered.filter((e) => e.type === EventTypes.snapshotCompleted)).toEqual([
      {
        type: EventTypes.snapshotCompleted,
        data: expect.objectContaining({
          reservationId: t.reservationId,
          volumeId: t.volumeId,
          diskName: t.diskName,
          sizeGb: 100,
        }),
      },
    ]);

    h.clock.advanceMinutes(5);
    expect((await h.run()).summary).toMatchObject({ snapshots_completed: 0 });
    expect(await diskCounters(db, t.diskId)).toMatchObject({ pending_snapshot_count: 1, snapshot_count: 5 });
    expect(h.delivered.filter((e) => e.type === EventTypes.snapshotCompleted)).toHaveLength(1);
  });

  it('clears is_backing_up when the last pending snapshot of the disk completes', async () => {
    const t = await snapshotted();
    h.clock.advanceMinutes(2);
    await h.run();
    expect(await diskCounters(db, t.diskId)).toMatchObject({
      pending_snapshot_count: 0,
      is_backing_up: false,
      snapshot_count: 1,
    });
  });

  it('asks EC2 about pending snapshots by id only, never rescanning completed ones (A-10)', async () => {
    const t = await snapshotted();
    for (let i = 0; i < 5; i++)
      h.aws.sim.addSnapshot({ volumeId: t.volumeId, tags: { 'gpu-dev-user': t.userId, disk_name: t.diskName } });
    h.aws.sim.clear();
    await h.run();
    const describes = h.aws.sim.calls().filter((call) => call.action === 'DescribeSnapshots');
    expect(describes.map((call) => call.params)).toEqual([expect.objectContaining({ 'SnapshotId.1': t.snapshotId })]);
    expect(describes[0]?.params).not.toHaveProperty('SnapshotId.2');
    h.aws.sim.clear();
    h.clock.advanceMinutes(2);
    await h.run();
    await h.run(); // nothing pending any more: EC2 is not asked about snapshots at all
    expect(h.aws.sim.calls().filter((call) => call.action === 'DescribeSnapshots')).toHaveLength(1);
  });

  it('marks a failed snapshot error, releases its pending count, and keeps the volume', async () => {
    const t = await snapshotted();
    h.aws.sim.failSnapshot(t.snapshotId);
    expect((await h.run()).summary).toMatchObject({ snapshots_failed: 1, volumes_deleted: 0 });
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ state: 'error' })]);
    expect(await diskCounters(db, t.diskId)).toMatchObject({
      pending_snapshot_count: 0,
      is_backing_up: false,
      snapshot_count: 0,
    });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
  });

  it('reads an id EC2 does not know as evidence only after a few minutes, and only marks it error', async () => {
    const t = await snapshotted();
    h.aws.sim.reset(); // EC2 forgets the snapshot, and the volume with it
    expect((await h.run()).summary).toMatchObject({ snapshots_failed: 0, snapshots_still_pending: 1 });
    h.clock.advanceMinutes(6);
    expect((await h.run()).summary).toMatchObject({ snapshots_failed: 1, deleted_snapshots: 0, volumes_deleted: 0 });
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ state: 'error', volume_outcome: null })]);
  });
});

describe('the volume after its shutdown snapshot', () => {
  it('is deleted only once the snapshot completed, and the disk stops pointing at it', async () => {
    const t = await snapshotted();
    h.clock.advanceSeconds(30);
    expect((await h.run()).summary).toMatchObject({ volumes_deleted: 0 });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    h.clock.advanceSeconds(30);
    expect((await h.run()).summary).toMatchObject({ snapshots_completed: 1, volumes_deleted: 1 });
    expect(h.aws.sim.volume(t.volumeId)).toBeUndefined();
    expect(h.aws.sim.snapshot(t.snapshotId)).toMatchObject({ state: 'completed' });
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ volume_outcome: 'deleted' })]);
    expect(await diskCounters(db, t.diskId)).toMatchObject({ ebs_volume_id: null });
    const [decision] = await decisionsFor(db.pool, 'volume', t.volumeId, 1);
    expect(decision).toMatchObject({
      action: 'delete-volume',
      outcome: 'applied',
      inputs: expect.objectContaining({ snapshotId: t.snapshotId }),
    });
  });

  it('is kept for good when it was attached again after the snapshot', async () => {
    const t = await snapshotted();
    h.aws.sim.attachVolume(t.volumeId, 'i-0new');
    h.clock.advanceMinutes(2);
    expect((await h.run()).summary).toMatchObject({ volumes_deleted: 0, volumes_kept: 1 });
    h.aws.sim.detachVolume(t.volumeId);
    await h.run();
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ volume_outcome: 'kept' })]);
  });

  it('is kept when a newer reservation uses it', async () => {
    const t = await snapshotted();
    await insertReservation(db.pool, {
      user_id: t.userId,
      status: 'preparing',
      created_at: h.clock.now(),
      ebs_volume_id: t.volumeId,
      disk_name: t.diskName,
    });
    h.clock.advanceMinutes(2);
    expect((await h.run()).summary).toMatchObject({ volumes_deleted: 0, volumes_kept: 1 });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
  });

  it('is kept when the disk is held by another reservation still on this volume', async () => {
    const t = await snapshotted();
    const other = await insertReservation(db.pool, { user_id: t.userId, status: 'active', created_at: h.clock.now() });
    await db.pool.query('update disks set in_use = true, reservation_id = $2 where disk_id = $1', [
      t.diskId,
      other.reservation_id,
    ]);
    h.clock.advanceMinutes(2);
    expect((await h.run()).summary).toMatchObject({ volumes_deleted: 0, volumes_kept: 1 });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
  });

  it('is kept when DeleteVolume says it is in use (attached between our look and the delete)', async () => {
    const t = await snapshotted();
    h.aws.sim.addFault({
      service: 'ec2',
      action: 'DeleteVolume',
      fault: { kind: 'error', status: 400, code: 'VolumeInUse' },
    });
    h.clock.advanceMinutes(2);
    const result = await h.run();
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { volumes_deleted: 0, volumes_kept: 1 } });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
  });

  it('counts a volume EC2 says is already gone as done', async () => {
    const t = await snapshotted();
    h.clock.advanceMinutes(2);
    await h.run({ maxItems: 1 }); // completes the snapshot, leaves the volume for the next run
    await h.deps.ec2.deleteVolume(t.volumeId);
    expect((await h.run()).summary).toMatchObject({ volumes_gone: 1, volumes_deleted: 0 });
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ volume_outcome: 'gone' })]);
  });
});

describe('with DELETE_VOLUME_AFTER_SNAPSHOT=false', () => {
  const off = useSyncHarnessOn(db, { DELETE_VOLUME_AFTER_SNAPSHOT: 'false' });

  it('keeps every volume and leaves its fate undecided', async () => {
    const t = await seedTeardown(off, db);
    await off.runEvent(t.podCleaned);
    off.clock.advanceMinutes(2);
    expect((await off.run()).summary).toMatchObject({ snapshots_completed: 1, volumes_deleted: 0 });
    expect(off.aws.sim.volume(t.volumeId)).toBeDefined();
    expect(await rowsOf(t)).toEqual([expect.objectContaining({ state: 'completed', volume_outcome: null })]);
  });
});
