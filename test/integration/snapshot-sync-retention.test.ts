/*
 * Deleting snapshots: retention per disk (never another disk's, never one that is not ours, never
 * the newest) and the purge of soft-deleted disks (tagged first, deleted only after the date).
 */
import { describe, expect, it } from 'vitest';
import { EventTypes } from '../../shared/events/types.js';
import { insertDisk } from '../support/fixtures.js';
import { snapshotRows, useSyncHarness, useSyncHarnessOn } from './snapshot-sync-harness.js';
import { DAY_MS, seedCompleted, seedDisk } from './snapshot-sync-seed.js';
import type { SeededDisk } from './snapshot-sync-seed.js';

const { db, h } = useSyncHarness();

const day = (offsetDays: number) => new Date(h.clock.now().getTime() + offsetDays * DAY_MS).toISOString().slice(0, 10);
const disk = (userId?: string) => seedDisk(h, db, userId);
const completed = (d: SeededDisk, ageDays: number, options: { ours?: boolean; tracked?: boolean } = {}) =>
  seedCompleted(h, db, d, ageDays, options);

const inEc2 = (ids: string[]) => ids.filter((id) => h.aws.sim.snapshot(id) !== undefined);
const deletedEvents = () => h.delivered.filter((e) => e.type === EventTypes.snapshotDeleted).map((e) => e.data);

describe('retention per disk', () => {
  it('keeps the newest 3 of each disk, deletes older ones that are ours, and touches nothing else (A-11)', async () => {
    const a = await disk();
    const b = await disk(a.userId); // the same user's other disk
    const aIds = [
      await completed(a, 1),
      await completed(a, 2),
      await completed(a, 3),
      await completed(a, 4),
      await completed(a, 5),
    ];
    const notOurs = await completed(a, 6, { ours: false });
    const untracked = await completed(a, 7, { tracked: false });
    const bOnly = await completed(b, 30);

    const result = await h.run();
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { deleted_snapshots: 2, snapshots_spared: 1 } });
    expect(inEc2([...aIds, notOurs, untracked, bOnly])).toEqual([...aIds.slice(0, 3), notOurs, untracked, bOnly]);
    expect((await snapshotRows(db, 'state = $1', ['deleted'])).map((r) => r.snapshot_id)).toEqual(
      expect.arrayContaining(aIds.slice(3)),
    );
    expect(deletedEvents()).toEqual(
      expect.arrayContaining(
        aIds.slice(3).map((snapshotId) => expect.objectContaining({ snapshotId, reason: 'retention' })),
      ),
    );

    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 0 });
  });

  it('never deletes a snapshot whose disk has no more than the snapshots to keep', async () => {
    const a = await disk();
    const ids = [await completed(a, 100), await completed(a, 200), await completed(a, 300)];
    await h.run();
    expect(inEc2(ids)).toEqual(ids);
  });

  it('finishes a deletion a run could not complete, and announces it once', async () => {
    const a = await disk();
    const ids = [await completed(a, 1), await completed(a, 2), await completed(a, 3), await completed(a, 4)];
    h.aws.sim.addFault({ service: 'ec2', action: 'DeleteSnapshot', times: 3, fault: { kind: 'throttle' } });
    const failed = await h.run();
    expect(failed).toMatchObject({ outcome: 'failed', summary: { deleted_snapshots: 0 } });
    expect(await snapshotRows(db, 'snapshot_id = $1', [ids[3]])).toEqual([
      expect.objectContaining({ state: 'deleting' }),
    ]);
    expect(inEc2(ids)).toEqual(ids);

    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 1 });
    expect(inEc2(ids)).toEqual(ids.slice(0, 3));
    expect(deletedEvents()).toEqual([expect.objectContaining({ snapshotId: ids[3], reason: 'retention' })]);
  });
});

describe('retention within the deletion budget', () => {
  const small = useSyncHarnessOn(db, { SNAPSHOT_DELETE_BUDGET: '2', SNAPSHOT_RETENTION_COUNT: '1' });

  it('deletes at most the budget per run, oldest first, and says how many wait', async () => {
    const { volumeId } = small.aws.sim.addVolume({ sizeGiB: 8 });
    const row = await insertDisk(db.pool, { user_id: 'dev@example.com', disk_name: 'budget' });
    const ids: string[] = [];
    for (let age = 1; age <= 5; age++) {
      const startTime = new Date(small.clock.now().getTime() - age * DAY_MS);
      const { snapshotId } = small.aws.sim.addSnapshot({
        volumeId,
        startTime,
        tags: { 'devenv-lifecycle/managed': 'true', 'gpu-dev-user': 'dev@example.com', disk_name: 'budget' },
      });
      await db.pool.query(
        `insert into snapshots (kind, snapshot_id, volume_id, disk_id, user_id, disk_name, state, requested_at, started_at, completed_at)
         values ('shutdown', $1, $2, $3, 'dev@example.com', 'budget', 'completed', $4, $4, $4)`,
        [snapshotId, volumeId, row.disk_id, startTime],
      );
      ids.push(snapshotId);
    }
    const live = () => ids.filter((id) => small.aws.sim.snapshot(id) !== undefined);
    expect((await small.run()).summary).toMatchObject({ deleted_snapshots: 2, deferred_delete_budget: 2 });
    expect(live()).toEqual(ids.slice(0, 3));
    await small.run();
    await small.run();
    expect(live()).toEqual(ids.slice(0, 1));
  });
});

describe('soft-deleted disks', () => {
  async function softDelete(d: SeededDisk, deleteDate: string | null): Promise<Date> {
    const markedAt = new Date(h.clock.now().getTime() - DAY_MS);
    await db.pool.query(
      'update disks set is_deleted = true, delete_date = $2::date, marked_deleted_at = $3 where disk_id = $1',
      [d.diskId, deleteDate, markedAt],
    );
    return markedAt;
  }

  it("tags their snapshots, ours and the origin's, then deletes them only after the date has passed", async () => {
    const d = await disk();
    const other = await disk(d.userId);
    const ours = await completed(d, 3);
    const origins = await completed(d, 40, { ours: false, tracked: false });
    const otherDisk = await completed(other, 3);
    const markedAt = await softDelete(d, day(2));

    expect((await h.run()).summary).toMatchObject({
      tagged_snapshots: 2,
      synced_disks: 1,
      adopted_snapshots: 1,
      deleted_snapshots: 0,
    });
    const deletionTags = { 'delete-date': day(2), 'marked-deleted-at': String(Math.floor(markedAt.getTime() / 1000)) };
    expect(h.aws.sim.snapshot(ours)?.tags).toMatchObject(deletionTags);
    expect(h.aws.sim.snapshot(origins)?.tags).toMatchObject(deletionTags);
    expect(h.aws.sim.snapshot(otherDisk)?.tags).not.toHaveProperty('delete-date');
    expect((await h.run()).summary).toMatchObject({ tagged_snapshots: 0, synced_disks: 0 });

    h.clock.set(`${day(2)}T23:59:00Z`); // the delete date itself: not passed yet
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 0 });
    expect(inEc2([ours, origins])).toEqual([ours, origins]);

    h.clock.advanceMinutes(2);
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 2 });
    expect(inEc2([ours, origins, otherDisk])).toEqual([otherDisk]);
    expect(deletedEvents()).toEqual(
      expect.arrayContaining([expect.objectContaining({ snapshotId: ours, reason: 'disk-deleted' })]),
    );
  });

  it('are left to the purge by retention: more snapshots than kept, and none deleted before the date', async () => {
    const d = await disk();
    const ids = [
      await completed(d, 1),
      await completed(d, 2),
      await completed(d, 3),
      await completed(d, 4),
      await completed(d, 5),
    ];
    await softDelete(d, day(2));
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 0 });
    expect(inEc2(ids)).toEqual(ids);
  });

  it('deletes nothing when the disk was restored before the date', async () => {
    const d = await disk();
    const ours = await completed(d, 3);
    await softDelete(d, day(1));
    await h.run();
    await db.pool.query('update disks set is_deleted = false where disk_id = $1', [d.diskId]);
    h.clock.advanceMinutes(3 * 24 * 60);
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 0 });
    expect(inEc2([ours])).toEqual([ours]);
  });

  it('leaves a soft-deleted disk without a delete date alone, and says so', async () => {
    const d = await disk();
    const ours = await completed(d, 3);
    await softDelete(d, null);
    h.clock.advanceMinutes(30 * 24 * 60);
    expect((await h.run()).summary).toMatchObject({
      disks_without_delete_date: 1,
      tagged_snapshots: 0,
      deleted_snapshots: 0,
    });
    expect(h.aws.sim.snapshot(ours)?.tags).not.toHaveProperty('delete-date');
  });
});
