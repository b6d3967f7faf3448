/*
 * Retention looks only at disks that changed: a disk found within the retention count is skipped
 * until one of its snapshots completes, or the count is lowered (migration 0006). Its cost follows
 * what changed, not the history, and nothing that needs trimming is ever skipped.
 */
import { describe, expect, it } from 'vitest';
import { retentionCandidates } from '../../shared/db/queries/disks.js';
import { useSyncHarness } from './snapshot-sync-harness.js';
import { seedCompleted, seedDisk } from './snapshot-sync-seed.js';

const { db, h } = useSyncHarness();

async function diskWithSnapshots(ages: number[]) {
  const disk = await seedDisk(h, db);
  const complete = (ageDays: number) => seedCompleted(h, db, disk, ageDays);
  const ids: string[] = [];
  for (const age of ages) ids.push(await complete(age));
  return { diskId: disk.diskId, ids, complete };
}

const describeCalls = () => h.aws.sim.calls().filter((call) => call.action === 'DescribeSnapshots').length;
const inEc2 = (ids: string[]) => ids.filter((id) => h.aws.sim.snapshot(id) !== undefined);

describe('retention of disks that changed', () => {
  it('skips a disk once within the count, and trims it again after a new snapshot completed', async () => {
    const d = await diskWithSnapshots([1, 2, 3, 4, 5]);
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 2, retention_disks_checked: 1 });
    expect(inEc2(d.ids)).toEqual(d.ids.slice(0, 3));

    h.aws.sim.clear();
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 0, retention_disks_checked: 0 });
    expect(describeCalls()).toBe(0); // nothing pending, nothing changed: EC2 is not asked

    const newest = await d.complete(0);
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 1, retention_disks_checked: 1 });
    expect(inEc2([newest, ...d.ids])).toEqual([newest, ...d.ids.slice(0, 2)]);
  });

  it('keeps a disk due while deletions wait for the budget of a later run', async () => {
    const d = await diskWithSnapshots(Array.from({ length: 15 }, (_, i) => i + 1));
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 10, retention_disks_checked: 0 });
    expect((await h.run()).summary).toMatchObject({ deleted_snapshots: 2, retention_disks_checked: 1 });
    expect(inEc2(d.ids)).toEqual(d.ids.slice(0, 3));
  });

  it('looks again at disks checked against a larger count when the count is lowered', async () => {
    const d = await diskWithSnapshots([1, 2, 3]);
    await h.run();
    expect(await retentionCandidates(db.pool, 3, 100)).toEqual([]);
    expect((await retentionCandidates(db.pool, 2, 100)).map((row) => row.snapshot_id)).toEqual(d.ids);
  });

  it('marks nothing in a dry run', async () => {
    await diskWithSnapshots([1, 2, 3]);
    expect((await h.run({ dryRun: true })).summary.retention_disks_checked).toBeUndefined();
    const { rows } = await db.pool.query('select checked_keep from snapshot_retention');
    expect(rows).toEqual([{ checked_keep: null }]);
  });
});
