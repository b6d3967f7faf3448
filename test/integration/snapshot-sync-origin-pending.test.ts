/*
 * Cut-over leftovers: disks the origin left backing up, with its snapshots in EC2 (its tags and
 * description, on the disk's volume) and none in our table. Through the real EC2 client against the
 * simulator and a real database.
 */
import { describe, expect, it } from 'vitest';
import { decisionsFor } from '../../shared/db/queries/decisions.js';
import type { RunResult } from '../../shared/runtime/invocation.js';
import { insertDisk } from '../support/fixtures.js';
import { diskCounters, snapshotRows, useSyncHarness } from './snapshot-sync-harness.js';

const { db, h } = useSyncHarness();

const USER = 'dev@example.com';
const summaryOf = (result: RunResult): Record<string, number> => ({
  origin_snapshots_adopted: 0,
  origin_snapshots_credited: 0,
  disks_backing_up_unexplained: 0,
  waits_overdue: 0,
  ...result.summary,
});

/** A disk as the origin left it at cut-over: one snapshot counted pending, the flag set. */
async function leftBackingUp(pending = 1): Promise<{ diskId: string; volumeId: string; diskName: string }> {
  const diskName = 'home';
  const { volumeId } = h.aws.sim.addVolume({ sizeGiB: 100, tags: { 'gpu-dev-user': USER, disk_name: diskName } });
  const disk = await insertDisk(db.pool, {
    user_id: USER,
    disk_name: diskName,
    ebs_volume_id: volumeId,
    pending_snapshot_count: pending,
    snapshot_count: 4,
  });
  await db.pool.query('update disks set is_backing_up = true where disk_id = $1', [disk.disk_id]);
  return { diskId: disk.disk_id, volumeId, diskName };
}

function originSnapshot(
  volumeId: string,
  state: 'pending' | 'completed',
  overrides: { user?: string; description?: string } = {},
): string {
  const user = overrides.user ?? USER;
  const created = Math.floor(h.clock.now().getTime() / 1000);
  return h.aws.sim.addSnapshot({
    volumeId,
    state,
    startTime: h.clock.now(),
    description: overrides.description ?? `gpu-dev shutdown snapshot for ${user} (disk: home) (1.2G)`,
    tags: {
      Name: `gpu-dev-shutdown-dev-${created}`,
      'gpu-dev-user': user,
      'gpu-dev-snapshot-type': 'shutdown',
      SnapshotType: 'shutdown',
      created_at: String(created),
      disk_name: 'home',
    },
  }).snapshotId;
}

describe("the origin's pending snapshots after cut-over", () => {
  it('adopts a pending one, and credits it once when it completes: the disk stops backing up', async () => {
    const d = await leftBackingUp();
    const snapshotId = originSnapshot(d.volumeId, 'pending');
    expect(summaryOf(await h.run())).toMatchObject({
      origin_snapshots_adopted: 1,
      disks_backing_up_unexplained: 0,
      synced_disks: 1,
    });
    expect(await snapshotRows(db, 'disk_id = $1', [d.diskId])).toEqual([
      expect.objectContaining({ snapshot_id: snapshotId, kind: 'adopted', state: 'pending' }),
    ]);
    expect(await diskCounters(db, d.diskId)).toMatchObject({ pending_snapshot_count: 1, is_backing_up: true });

    h.clock.advanceMinutes(10);
    expect(summaryOf(await h.run())).toMatchObject({ snapshots_completed: 1, origin_snapshots_adopted: 0 });
    expect(await diskCounters(db, d.diskId)).toMatchObject({
      pending_snapshot_count: 0,
      is_backing_up: false,
      snapshot_count: 5,
    });
    expect(summaryOf(await h.run())).toMatchObject({ snapshots_completed: 0, origin_snapshots_adopted: 0 });
    expect(await diskCounters(db, d.diskId)).toMatchObject({ pending_snapshot_count: 0, snapshot_count: 5 });
  });

  it('credits at once one that completed after cut-over, and records the decision', async () => {
    const d = await leftBackingUp();
    originSnapshot(d.volumeId, 'completed');
    expect(summaryOf(await h.run())).toMatchObject({
      origin_snapshots_adopted: 1,
      origin_snapshots_credited: 1,
      synced_disks: 1,
    });
    expect(await diskCounters(db, d.diskId)).toMatchObject({
      pending_snapshot_count: 0,
      is_backing_up: false,
      snapshot_count: 5,
    });
    const [decision] = await decisionsFor(db.pool, 'disk', d.diskId, 1);
    expect(decision).toMatchObject({ action: 'reconcile-origin-pending', outcome: 'applied' });
  });

  it("does NOT credit a snapshot of the volume that is not the origin's for this disk; reports the disk as not synced, and escalates past the bound", async () => {
    const d = await leftBackingUp();
    originSnapshot(d.volumeId, 'completed', { user: 'someone@example.com' });
    originSnapshot(d.volumeId, 'completed', { description: 'hand-made copy' });
    const first = await h.run();
    expect(summaryOf(first)).toMatchObject({
      origin_snapshots_adopted: 0,
      disks_backing_up_unexplained: 1,
      synced_disks: 0,
    });
    expect(first.message).toMatch(/1 disk\(s\) still backing up/);
    expect(await diskCounters(db, d.diskId)).toMatchObject({
      pending_snapshot_count: 1,
      is_backing_up: true,
      snapshot_count: 4,
    });
    expect(await snapshotRows(db, 'disk_id = $1', [d.diskId])).toEqual([]);

    h.clock.advanceMinutes(61);
    expect(summaryOf(await h.run())).toMatchObject({ disks_backing_up_unexplained: 1, waits_overdue: 1 });
    expect((await decisionsFor(db.pool, 'disk', d.diskId)).filter((x) => x.action === 'escalate-wait')).toHaveLength(1);
  });

  it('leaves a disk whose pending count our own snapshots explain alone', async () => {
    const d = await leftBackingUp(0);
    await db.pool.query('update disks set is_backing_up = false where disk_id = $1', [d.diskId]);
    originSnapshot(d.volumeId, 'completed');
    expect(summaryOf(await h.run())).toMatchObject({ origin_snapshots_adopted: 0, disks_backing_up_unexplained: 0 });
    expect(await diskCounters(db, d.diskId)).toMatchObject({ pending_snapshot_count: 0, snapshot_count: 4 });
  });
});
