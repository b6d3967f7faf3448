/*
 * The reads by a list of ids keep the run's pace (pace.ts, observe.ts): the volume stage's
 * DescribeVolumes and polling's DescribeSnapshots ask 200 ids a call. When the budget is spent
 * between two calls, the ids not asked about are deferred and their rows left out of the plan,
 * never read as "EC2 does not have it": no volume deleted or given up as gone, no snapshot row
 * failed or completed, no wait written for them. A later run with time reads them and acts.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AwsCall } from '../../sim/aws/index.js';
import { seedTeardown, useSyncHarness } from './snapshot-sync-harness.js';
import { SLOW_TEST_MS, callsOf, listParam, runOnSlowEc2, syncState } from './snapshot-sync-pace-support.js';

// More rows than one read takes (200 ids), all in one run: the run's item limit and the
// breaker's allow them, so only the run's pace can leave any out.
const { db, h } = useSyncHarness({ MAX_ITEMS: '300', BREAKER_MIN_ACTIONS: '1000' });

const ROWS = 250; // two reads by id: 200 ids, then 50
const IDS_PER_READ = 200;
const minutesAgo = (minutes: number) => new Date(h.clock.now().getTime() - minutes * 60_000);

/** Each call of `action` costs the run 8 s of its budget; nothing else costs anything. */
const eachCosts8s = (action: string) => (call: AwsCall) => (call.action === action ? 8 : 0);

describe('volumes by id (the volume after its shutdown snapshot)', () => {
  /**
   * Ended reservations whose shutdown snapshot completed, each volume detached and tagged as the
   * disk's: every one is due for deletion. Read in the order the snapshots completed.
   */
  async function seedVolumesDue(): Promise<string[]> {
    const volumeIds: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const t = await seedTeardown(h, db, { step: null });
      const completedAt = minutesAgo(60 - i / 10);
      const { snapshotId } = h.aws.sim.addSnapshot({ volumeId: t.volumeId, startTime: completedAt });
      await db.pool.query(
        `insert into snapshots (kind, snapshot_id, reservation_id, volume_id, disk_id, user_id, disk_name, state, requested_at, started_at, completed_at)
         values ('shutdown', $1, $2, $3, $4, $5, $6, 'completed', $7, $7, $7)`,
        [snapshotId, t.reservationId, t.volumeId, t.diskId, t.userId, t.diskName, completedAt],
      );
      volumeIds.push(t.volumeId);
    }
    h.aws.sim.clear();
    return volumeIds;
  }

  const volumeOutcomes = async () =>
    (
      await db.pool.query<{ volume_outcome: string | null }>('select volume_outcome from snapshots order by id')
    ).rows.map((row) => row.volume_outcome);

  it(
    'stops reading volumes at the deadline: the unread ones are neither deleted, given up nor waited on, and a later run deletes them',
    async () => {
      const volumeIds = await seedVolumesDue();
      const before = await syncState(db);

      // A 10 s budget stops at 8 s: the first read spends it, so the second (50 ids) never starts.
      const slow = await runOnSlowEc2(h, 10, eachCosts8s('DescribeVolumes'));
      const reads = callsOf(h, 'DescribeVolumes');
      expect(reads.map((call) => listParam(call, 'VolumeId'))).toEqual([volumeIds.slice(0, IDS_PER_READ)]);
      // The 200 volumes read are planned for deletion (and deferred: the run is past its deadline);
      // the 50 unread are not in the plan at all, not even as a wait on an unknown state.
      expect(slow.summary).toMatchObject({ reads_deferred: 50, deferred: 200, volumes_deleted: 0, volumes_gone: 0 });
      expect(slow.summary.waits_open ?? 0).toBe(0);
      expect(callsOf(h, 'DeleteVolume')).toEqual([]);
      expect(volumeIds.every((volumeId) => h.aws.sim.volume(volumeId) !== undefined)).toBe(true);
      expect(await syncState(db)).toEqual(before);

      h.aws.sim.clear();
      const later = await h.run();
      expect(later.summary).toMatchObject({ volumes_deleted: ROWS });
      expect(later.summary.reads_deferred).toBeUndefined();
      expect(new Set(callsOf(h, 'DeleteVolume').map((call) => call.params.VolumeId))).toEqual(new Set(volumeIds));
      expect(await volumeOutcomes()).toEqual(volumeIds.map(() => 'deleted'));
    },
    SLOW_TEST_MS,
  );

  it(
    'does not stop with budget left: on the same slow EC2, every volume is read and deleted in one run',
    async () => {
      const volumeIds = await seedVolumesDue();

      // A 30 s budget stops at 24 s: both reads (16 s) fit.
      const result = await runOnSlowEc2(h, 30, eachCosts8s('DescribeVolumes'));
      expect(callsOf(h, 'DescribeVolumes').map((call) => listParam(call, 'VolumeId'))).toEqual([
        volumeIds.slice(0, IDS_PER_READ),
        volumeIds.slice(IDS_PER_READ),
      ]);
      expect(result.summary).toMatchObject({ volumes_deleted: ROWS });
      expect(result.summary.reads_deferred).toBeUndefined();
      expect(result.summary.deferred ?? 0).toBe(0);
      expect(await volumeOutcomes()).toEqual(volumeIds.map(() => 'deleted'));
    },
    SLOW_TEST_MS,
  );
});

describe('snapshots by id (polling pending snapshots)', () => {
  interface Pending {
    snapshotId: string;
    /** EC2 never heard of it: once read, the row fails. */
    unknownToEc2: boolean;
  }

  /**
   * Pending rows started ten minutes ago (past EC2's consistency window), polled in the order they
   * were requested: EC2 reports four in five completed and does not know the fifth.
   */
  async function seedPending(): Promise<Pending[]> {
    const seeded: Pending[] = [];
    for (let i = 0; i < ROWS; i++) {
      const unknownToEc2 = i % 5 === 4;
      const snapshotId = unknownToEc2
        ? `snap-${randomUUID().replace(/-/g, '').slice(0, 17)}`
        : h.aws.sim.addSnapshot({ volumeId: 'vol-0123456789abcdef0', sizeGiB: 10, startTime: minutesAgo(10) })
            .snapshotId;
      await db.pool.query(
        `insert into snapshots (kind, snapshot_id, volume_id, user_id, state, requested_at, started_at)
         values ('adopted', $1, 'vol-0123456789abcdef0', 'dev@example.com', 'pending', $2, $3)`,
        [snapshotId, minutesAgo(60 - i / 10), minutesAgo(10)],
      );
      seeded.push({ snapshotId, unknownToEc2 });
    }
    h.aws.sim.clear();
    return seeded;
  }

  const rowStates = async () =>
    (await db.pool.query<{ state: string }>('select state from snapshots order by id')).rows.map((row) => row.state);
  const finalStates = (seeded: Pending[]) => seeded.map((row) => (row.unknownToEc2 ? 'error' : 'completed'));
  /** The ids each DescribeSnapshots asked about: by id, or (to learn which are unknown) by an id filter. */
  const askedIds = () =>
    callsOf(h, 'DescribeSnapshots').map((call) => [
      ...listParam(call, 'SnapshotId'),
      ...listParam(call, 'Filter.1.Value'),
    ]);

  it(
    'stops polling at the deadline: the unread rows are neither failed nor completed, and a later run settles them',
    async () => {
      const seeded = await seedPending();
      const ids = seeded.map((row) => row.snapshotId);
      const before = await syncState(db);

      // A 10 s budget stops at 8 s: the first 200 ids (an exact call, refused for the unknown ids, and
      // the filtered call that learns which they are) spend it, so the last 50 are never asked about.
      const slow = await runOnSlowEc2(h, 10, eachCosts8s('DescribeSnapshots'));
      expect(askedIds()).toEqual([ids.slice(0, IDS_PER_READ), ids.slice(0, IDS_PER_READ)]);
      // 160 completions and 40 failures planned (and deferred); the unread 50 (10 of them unknown to
      // EC2) are not planned: not asked is not "EC2 does not know it".
      expect(slow.summary).toMatchObject({ reads_deferred: 50, deferred: 200, snapshots_completed: 0 });
      expect(slow.summary.snapshots_failed ?? 0).toBe(0);
      expect(await syncState(db)).toEqual(before);
      expect(h.delivered).toEqual([]);

      h.aws.sim.clear();
      const later = await h.run();
      expect(later.summary).toMatchObject({ snapshots_completed: 200, snapshots_failed: 50 });
      expect(later.summary.reads_deferred).toBeUndefined();
      expect(await rowStates()).toEqual(finalStates(seeded));
    },
    SLOW_TEST_MS,
  );

  it(
    'does not stop with budget left: on the same slow EC2, every pending row is polled and settled in one run',
    async () => {
      const seeded = await seedPending();
      const ids = seeded.map((row) => row.snapshotId);

      // A 60 s budget stops at 48 s: four calls (32 s) fit.
      const result = await runOnSlowEc2(h, 60, eachCosts8s('DescribeSnapshots'));
      expect(askedIds()).toEqual([
        ids.slice(0, IDS_PER_READ),
        ids.slice(0, IDS_PER_READ),
        ids.slice(IDS_PER_READ),
        ids.slice(IDS_PER_READ),
      ]);
      expect(result.summary).toMatchObject({ snapshots_completed: 200, snapshots_failed: 50 });
      expect(result.summary.reads_deferred).toBeUndefined();
      expect(result.summary.deferred ?? 0).toBe(0);
      expect(await rowStates()).toEqual(finalStates(seeded));
    },
    SLOW_TEST_MS,
  );
});
