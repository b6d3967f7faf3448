/*
 * Retention reads the snapshots it may delete by id (observe.ts, 200 a DescribeSnapshots call) and
 * keeps the run's pace: when the budget is spent between two reads, the unread ids are deferred,
 * and a disk is decided on all its snapshots or not at all — the disk whose snapshots the cut
 * splits is left whole for a later run, as are the disks never read. No snapshot is deleted on an
 * answer EC2 was not asked for, and a later run with time brings every disk down to its newest 3.
 */
import { expect, it } from 'vitest';
import type { AwsCall } from '../../sim/aws/index.js';
import { useSyncHarness } from './snapshot-sync-harness.js';
import { SLOW_TEST_MS, callsOf, listParam, runOnSlowEc2, syncState } from './snapshot-sync-pace-support.js';
import { seedCompleted, seedDisk } from './snapshot-sync-seed.js';

// Every retention deletion fits one run (the deletion limit, the breaker's, the run's items), so
// only the run's pace can leave any for later. Retention keeps the default 3.
const { db, h } = useSyncHarness({ MAX_ITEMS: '300', BREAKER_MIN_ACTIONS: '1000', SNAPSHOT_DELETE_BUDGET: '1000' });

const DISKS = 36;
const SNAPSHOTS_PER_DISK = 7; // 4 over retention each
const IDS_PER_READ = 200;
/** Disks whose snapshots all fit the first read: 28 (196 ids); the 29th has 4 of its 7 in it. */
const WHOLE_IN_FIRST_READ = Math.floor(IDS_PER_READ / SNAPSHOTS_PER_DISK);

/** Disks with 7 completed snapshots each (ours, tagged), one a day; returns the ids in the order retention reads them. */
async function seedHistory(): Promise<string[][]> {
  for (let d = 0; d < DISKS; d++) {
    const disk = await seedDisk(h, db, `dev-${d}@example.com`);
    for (let age = 1; age <= SNAPSHOTS_PER_DISK; age++) await seedCompleted(h, db, disk, age);
  }
  h.aws.sim.clear();
  // Retention's order: by disk, newest first.
  const { rows } = await db.pool.query<{ disk_id: string; ids: string[] }>(
    `select disk_id, array_agg(snapshot_id order by started_at desc, snapshot_id desc) as ids
     from snapshots group by disk_id order by disk_id`,
  );
  return rows.map((row) => row.ids);
}

const eachReadCosts8s = (call: AwsCall) => (call.action === 'DescribeSnapshots' ? 8 : 0);
const askedIds = () => callsOf(h, 'DescribeSnapshots').map((call) => listParam(call, 'SnapshotId'));
const inEc2 = (ids: string[]) => ids.filter((id) => h.aws.sim.snapshot(id) !== undefined);
const rowStates = async (ids: string[]) =>
  (
    await db.pool.query<{ snapshot_id: string; state: string }>(
      'select snapshot_id, state from snapshots where snapshot_id = any($1)',
      [ids],
    )
  ).rows
    .sort((a, b) => ids.indexOf(a.snapshot_id) - ids.indexOf(b.snapshot_id))
    .map((row) => row.state);

/** Each disk keeps its newest 3, in EC2 and in our rows; the older 4 are deleted in both. */
async function expectEveryDiskAtRetention(byDisk: string[][]) {
  for (const ids of byDisk) {
    expect(inEc2(ids)).toEqual(ids.slice(0, 3));
    expect(await rowStates(ids)).toEqual(ids.map((_, i) => (i < 3 ? 'completed' : 'deleted')));
  }
}

it(
  'stops reading at the deadline: no disk read in part or not at all is planned, nothing is deleted, and a later run finishes',
  async () => {
    const byDisk = await seedHistory();
    const ids = byDisk.flat();
    const before = await syncState(db);

    // A 10 s budget stops at 8 s: the first read (200 ids) spends it, the second (52) never starts.
    const slow = await runOnSlowEc2(h, 10, eachReadCosts8s);
    expect(askedIds()).toEqual([ids.slice(0, IDS_PER_READ)]);
    // Only the 28 disks read whole are planned (4 deletions each, deferred: the run is past its
    // deadline); the split disk and the 7 unread ones are not planned at all.
    expect(slow.summary).toMatchObject({ reads_deferred: ids.length - IDS_PER_READ, deleted_snapshots: 0 });
    expect(slow.summary.deferred).toBe(WHOLE_IN_FIRST_READ * 4);
    expect(callsOf(h, 'DeleteSnapshot')).toEqual([]);
    expect(inEc2(ids)).toEqual(ids);
    expect(await syncState(db)).toEqual(before);

    h.aws.sim.clear();
    const later = await h.run();
    expect(later.summary).toMatchObject({ deleted_snapshots: DISKS * 4 });
    expect(later.summary.reads_deferred).toBeUndefined();
    await expectEveryDiskAtRetention(byDisk);
  },
  SLOW_TEST_MS,
);

it(
  'does not stop with budget left: on the same slow EC2, every disk is read and brought to retention in one run',
  async () => {
    const byDisk = await seedHistory();
    const ids = byDisk.flat();

    // A 30 s budget stops at 24 s: both reads (16 s) fit.
    const result = await runOnSlowEc2(h, 30, eachReadCosts8s);
    expect(askedIds()).toEqual([ids.slice(0, IDS_PER_READ), ids.slice(IDS_PER_READ)]);
    expect(result.summary).toMatchObject({ deleted_snapshots: DISKS * 4 });
    expect(result.summary.reads_deferred).toBeUndefined();
    expect(result.summary.deferred ?? 0).toBe(0);
    await expectEveryDiskAtRetention(byDisk);
  },
  SLOW_TEST_MS,
);
