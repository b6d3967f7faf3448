/*
 * The shutdown stage reads its targets' volumes by id (observe.ts, 200 a DescribeVolumes call) and
 * keeps the run's pace: when the budget is spent between two reads, the teardowns whose volume was
 * not read are left out of the plan — no snapshot made, no wait on an "unknown" volume recorded
 * for them — and a later run with time snapshots every one.
 */
import { expect, it } from 'vitest';
import type { AwsCall } from '../../sim/aws/index.js';
import { seedTeardown, useSyncHarness } from './snapshot-sync-harness.js';
import { SLOW_TEST_MS, callsOf, listParam, runOnSlowEc2, syncState } from './snapshot-sync-pace-support.js';

// More teardowns than one read takes (200 ids), all within the run's item limit.
const { db, h } = useSyncHarness({ MAX_ITEMS: '300' });

const TEARDOWNS = 250; // two reads by id: 200 volumes, then 50
const IDS_PER_READ = 200;

/** Ended reservations with detached volumes and no snapshot yet; returns their volumes (read in the sweep's order, compared as sets). */
async function seedTeardowns(): Promise<string[]> {
  const volumeIds: string[] = [];
  for (let i = 0; i < TEARDOWNS; i++) volumeIds.push((await seedTeardown(h, db)).volumeId);
  h.aws.sim.clear();
  return volumeIds;
}

const eachReadCosts8s = (call: AwsCall) => (call.action === 'DescribeVolumes' ? 8 : 0);
const askedIds = () => callsOf(h, 'DescribeVolumes').map((call) => listParam(call, 'VolumeId'));
const snapshotted = () => new Set(h.aws.sim.snapshots().map((s) => s.volumeId));

it(
  'stops reading volumes at the deadline: no teardown is snapshotted or waited on unread, and a later run snapshots every one',
  async () => {
    const volumeIds = await seedTeardowns();
    const before = await syncState(db);

    // A 10 s budget stops at 8 s: the first read spends it, so the second (50 ids) never starts.
    const slow = await runOnSlowEc2(h, 10, eachReadCosts8s);
    const [read, ...more] = askedIds();
    expect(more).toEqual([]);
    expect(read).toHaveLength(IDS_PER_READ);
    expect(volumeIds).toEqual(expect.arrayContaining(read!));
    // The 200 read are planned (and deferred: the run is past its deadline); the 50 unread are not
    // planned at all, not even as a wait on a volume whose state nobody read.
    expect(slow.summary).toMatchObject({ reads_deferred: 50, deferred: 200, snapshots_created: 0 });
    expect(slow.summary.awaiting_volume ?? 0).toBe(0);
    expect(callsOf(h, 'CreateSnapshot')).toEqual([]);
    expect(await syncState(db)).toEqual(before);

    h.aws.sim.clear();
    const later = await h.run();
    expect(later.summary).toMatchObject({ snapshots_created: TEARDOWNS });
    expect(later.summary.reads_deferred).toBeUndefined();
    expect(snapshotted()).toEqual(new Set(volumeIds));
  },
  SLOW_TEST_MS,
);

it(
  'does not stop with budget left: on the same slow EC2, every volume is read and snapshotted in one run',
  async () => {
    const volumeIds = await seedTeardowns();

    // A 30 s budget stops at 24 s: both reads (16 s) fit.
    const result = await runOnSlowEc2(h, 30, eachReadCosts8s);
    expect(askedIds().map((ids) => ids.length)).toEqual([IDS_PER_READ, TEARDOWNS - IDS_PER_READ]);
    expect(new Set(askedIds().flat())).toEqual(new Set(volumeIds));
    expect(result.summary).toMatchObject({ snapshots_created: TEARDOWNS });
    expect(result.summary.reads_deferred).toBeUndefined();
    expect(result.summary.deferred ?? 0).toBe(0);
    expect(snapshotted()).toEqual(new Set(volumeIds));
  },
  SLOW_TEST_MS,
);
