/*
 * snapshot-sync's loads keep the run's pace: against a slow EC2 (every DescribeSnapshots costs the
 * run a second of its budget), a stage's tag reads stop at the run's stop point (80% of the budget),
 * what was not read is left out of the plan (never read as "EC2 has nothing"), and a later run
 * reads it and acts on what EC2 really holds.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { insertDisk } from '../support/fixtures.js';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { ManualClock } from '../../shared/clock.js';
import { useSyncHarness } from './snapshot-sync-harness.js';
import { DAY_MS, seedCompleted, seedDisk } from './snapshot-sync-seed.js';

// One read at a time, so the reads made before the stop point are a count, not a race.
const { db, h } = useSyncHarness({ CONCURRENCY: '1' });

const describeSnapshotCalls = () => h.aws.sim.calls().filter((call) => call.action === 'DescribeSnapshots');

/** A scheduled run on a slow EC2: every DescribeSnapshots made so far has cost `secondsPerCall` of the budget. */
function runOnSlowEc2(budgetSeconds: number, secondsPerCall = 1) {
  const start = h.clock.now().getTime();
  // A ManualClock, so the rails leave it alone, whose readings follow the calls.
  const clock = new ManualClock();
  clock.now = () => new Date(start + describeSnapshotCalls().length * secondsPerCall * 1000);
  const deps = { ...h.deps, run: { ...h.deps.run, clock, budgetSeconds } };
  return snapshotSync.handle(
    { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: { dryRun: false } },
    deps,
  );
}

/** A soft-deleted disk not yet synced, with one snapshot the origin made (in EC2, not in our table). */
async function softDeletedWithOriginSnapshot() {
  const disk = await seedDisk(h, db, `dev-${randomUUID().slice(0, 6)}@example.com`);
  const snapshotId = await seedCompleted(h, db, disk, 10, { ours: false, tracked: false });
  const deleteDate = new Date(h.clock.now().getTime() + 2 * DAY_MS).toISOString().slice(0, 10);
  await db.pool.query(
    'update disks set is_deleted = true, delete_date = $2::date, marked_deleted_at = $3 where disk_id = $1',
    [disk.diskId, deleteDate, new Date(h.clock.now().getTime() - DAY_MS)],
  );
  return { ...disk, snapshotId };
}

const adoptedSnapshotIds = async () =>
  (await db.pool.query<{ snapshot_id: string }>('select snapshot_id from snapshots order by snapshot_id')).rows.map(
    (row) => row.snapshot_id,
  );

it("stops reading disks' tags at the stop point; the unread disks are not planned, and a later run adopts their snapshots", async () => {
  const disks = [];
  for (let i = 0; i < 12; i++) disks.push(await softDeletedWithOriginSnapshot());
  h.aws.sim.clear();

  // A 10 s budget stops at 8 s: eight reads of a second each, then the load stops asking.
  const slow = await runOnSlowEc2(10);
  expect(describeSnapshotCalls()).toHaveLength(8);
  // The eight disks read are planned (and deferred: the run is past its stop point); the four
  // unread ones are not in the plan at all, so nothing about them was decided on a missing answer.
  expect(slow.summary).toMatchObject({ reads_deferred: 4, deferred: 8, synced_disks: 0 });
  expect(await adoptedSnapshotIds()).toEqual([]);
  const { rows: decided } = await db.pool.query('select 1 from decision_log where entity_kind = $1', ['disk']);
  expect(decided).toEqual([]);

  // With time enough, every disk is read, and each adopts the snapshot EC2 really holds for it.
  const later = await h.run();
  expect(later.summary).toMatchObject({ synced_disks: 12, adopted_snapshots: 12 });
  expect(later.summary.reads_deferred).toBeUndefined();
  expect(await adoptedSnapshotIds()).toEqual(disks.map((d) => d.snapshotId).sort());
});

/** A disk the origin left backing up at cut-over, with the pending snapshot that explains it in EC2. */
async function leftBackingUp(user: string) {
  const { volumeId } = h.aws.sim.addVolume({ sizeGiB: 10, tags: { 'gpu-dev-user': user, disk_name: 'home' } });
  const disk = await insertDisk(db.pool, {
    user_id: user,
    disk_name: 'home',
    ebs_volume_id: volumeId,
    pending_snapshot_count: 1,
  });
  await db.pool.query('update disks set is_backing_up = true where disk_id = $1', [disk.disk_id]);
  const description = `gpu-dev shutdown snapshot for ${user} (disk: home)`;
  const tags = { 'gpu-dev-user': user, disk_name: 'home' };
  return h.aws.sim.addSnapshot({ volumeId, state: 'pending', description, tags }).snapshotId;
}

it("reads the origin's snapshots 199 volumes a call (with the user tag key, EC2's 200 filter values), and stops at the stop point", async () => {
  const snapshots = [];
  for (let i = 0; i < 200; i++) snapshots.push(await leftBackingUp(`dev-${i}@example.com`));
  h.aws.sim.clear();

  // A 10 s budget stops at 8 s; the first call costs 8 s, so the 200th volume is left unread.
  const slow = await runOnSlowEc2(10, 8);
  const calls = describeSnapshotCalls();
  expect(calls).toHaveLength(1);
  expect(Object.keys(calls[0]!.params).filter((key) => /^Filter\.\d+\.Value\.\d+$/.test(key))).toHaveLength(200);
  expect(slow.summary).toMatchObject({ reads_deferred: 1, deferred: 199 });
  expect(slow.summary.disks_backing_up_unexplained ?? 0).toBe(0); // the unread disk is not "none found"
  expect(await adoptedSnapshotIds()).toEqual([]);

  const later = await h.run();
  expect(later.summary).toMatchObject({ origin_snapshots_adopted: 200 });
  expect(await adoptedSnapshotIds()).toEqual([...snapshots].sort());
});
