/*
 * EC2's volume and attachment states through the real EC2 client and the simulator: every state is
 * handled on purpose, every wait is bounded by an escalation, a volume whose tags do not name the
 * disk is never snapshotted or deleted, and a reservation whose disk moved to another gets no
 * shutdown snapshot.
 */
import { describe, expect, it } from 'vitest';
import { decisionsFor } from '../../shared/db/queries/decisions.js';
import type { RunResult } from '../../shared/runtime/invocation.js';
import { insertReservation } from '../support/fixtures.js';
import { diskCounters, seedTeardown, snapshotRows, useSyncHarness } from './snapshot-sync-harness.js';
import type { Teardown } from './snapshot-sync-harness.js';

const { db, h } = useSyncHarness();

const snapshotsOf = (volumeId: string) => h.aws.sim.snapshots().filter((s) => s.volumeId === volumeId);
const rowsOf = (reservationId: string) => snapshotRows(db, 'reservation_id = $1', [reservationId]);
const waits = async () =>
  (
    await db.pool.query<{ wait_key: string; escalated_at: Date | null }>(
      'select wait_key, escalated_at, reason from snapshot_sync_waits',
    )
  ).rows;
const escalations = async (volumeId: string) =>
  (await decisionsFor(db.pool, 'volume', volumeId)).filter((d) => d.action === 'escalate-wait');
/** The run's counters, with 0 for those it never counted. */
const summaryOf = (result: RunResult): Record<string, number> => ({
  volumes_held: 0,
  volumes_kept: 0,
  volumes_gone: 0,
  volumes_in_error: 0,
  volumes_not_owned: 0,
  volumes_missing: 0,
  waits_overdue: 0,
  awaiting_volume: 0,
  refused_disk_moved: 0,
  snapshots_refused_by_ec2: 0,
  ...result.summary,
});
const overdueMetric = async () =>
  (await h.deps.metrics.registry.getSingleMetricAsString('devenv_lifecycle_actions_total'))
    .split('\n')
    .find((line) => line.includes('kind="wait-overdue"'));

/** A teardown whose shutdown snapshot completed: the volume's fate is next. */
async function snapshotted(): Promise<Teardown> {
  const t = await seedTeardown(h, db);
  await h.runEvent(t.podCleaned);
  h.clock.advanceMinutes(2);
  return t;
}

describe('the volume after its shutdown snapshot, in each EC2 state', () => {
  it('a volume being deleted is not "kept" for good: it waits, then is settled gone and the disk row stops pointing at it', async () => {
    const t = await snapshotted();
    h.aws.sim.setVolumeState(t.volumeId, 'deleting');
    const waiting = await h.run();
    expect(summaryOf(waiting)).toMatchObject({
      snapshots_completed: 1,
      volumes_held: 1,
      volumes_kept: 0,
      volumes_deleted: 0,
    });
    expect(await rowsOf(t.reservationId)).toEqual([
      expect.objectContaining({ state: 'completed', volume_outcome: null }),
    ]);
    expect(await waits()).toEqual([expect.objectContaining({ escalated_at: null })]);

    h.aws.sim.setVolumeState(t.volumeId, 'deleted');
    expect(summaryOf(await h.run())).toMatchObject({ volumes_gone: 1, volumes_kept: 0 });
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ volume_outcome: 'gone' })]);
    expect(await diskCounters(db, t.diskId)).toMatchObject({ ebs_volume_id: null });
    expect(await waits()).toEqual([]);
  });

  it('a volume in error is neither deleted nor kept: escalated at once, logged once, counted on every run', async () => {
    const t = await snapshotted();
    h.aws.sim.setVolumeState(t.volumeId, 'error');
    expect(summaryOf(await h.run())).toMatchObject({
      volumes_held: 1,
      volumes_in_error: 1,
      waits_overdue: 1,
      volumes_deleted: 0,
    });
    expect(summaryOf(await h.run())).toMatchObject({ waits_overdue: 1 });
    expect(h.aws.sim.volume(t.volumeId)).toMatchObject({ state: 'error' });
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ volume_outcome: null })]);
    expect(await escalations(t.volumeId)).toHaveLength(1);
    expect(await overdueMetric()).toMatch(/ 2$/);
  });

  it('a volume being detached waits; past SNAPSHOT_WAIT_ESCALATE_MINUTES the wait is escalated; once detached it is deleted and the wait ends', async () => {
    const t = await snapshotted();
    h.aws.sim.setAttachmentState(t.volumeId, 'detaching');
    expect(summaryOf(await h.run())).toMatchObject({ volumes_held: 1, waits_overdue: 0 });
    h.clock.advanceMinutes(61);
    expect(summaryOf(await h.run())).toMatchObject({ volumes_held: 1, waits_overdue: 1 });
    expect(await escalations(t.volumeId)).toEqual([
      expect.objectContaining({ reason: expect.stringContaining('detaching') }),
    ]);

    h.aws.sim.setAttachmentState(t.volumeId, 'detached');
    expect(summaryOf(await h.run())).toMatchObject({ volumes_deleted: 1, waits_overdue: 0 });
    expect(await waits()).toEqual([]);
  });

  it('DeleteVolume answering IncorrectState decides nothing and fails nothing; the next run looks again', async () => {
    const t = await snapshotted();
    h.aws.sim.addFault({
      service: 'ec2',
      action: 'DeleteVolume',
      fault: { kind: 'error', status: 400, code: 'IncorrectState', message: `${t.volumeId} is not 'available'.` },
    });
    const refused = await h.run();
    expect(refused.outcome).toBe('succeeded');
    expect(summaryOf(refused)).toMatchObject({ volumes_held: 1, volumes_kept: 0, volumes_deleted: 0 });
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ volume_outcome: null })]);
    expect(summaryOf(await h.run())).toMatchObject({ volumes_deleted: 1 });
  });

  it('does NOT delete a volume whose tags name another disk: kept, recorded and counted', async () => {
    const t = await snapshotted();
    await h.deps.ec2.createTags([t.volumeId], { disk_name: 'someone-elses' });
    expect(summaryOf(await h.run())).toMatchObject({ volumes_not_owned: 1, volumes_deleted: 0 });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ volume_outcome: 'kept' })]);
    const [refused] = await decisionsFor(db.pool, 'volume', t.volumeId, 1);
    expect(refused).toMatchObject({ action: 'refuse-volume', reason: expect.stringContaining('another disk') });
  });
});

describe('the shutdown snapshot, in each EC2 state', () => {
  it('a volume still being created waits, escalates past the bound, and is snapshotted once available', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.setVolumeState(t.volumeId, 'creating');
    expect(summaryOf(await h.runEvent(t.podCleaned))).toMatchObject({ awaiting_volume: 1, snapshots_created: 0 });
    h.clock.advanceMinutes(61);
    expect(summaryOf(await h.run())).toMatchObject({ awaiting_volume: 1, waits_overdue: 1 });
    expect(snapshotsOf(t.volumeId)).toEqual([]);
    h.aws.sim.setVolumeState(t.volumeId, 'available');
    expect(summaryOf(await h.run())).toMatchObject({ snapshots_created: 1, waits_overdue: 0 });
    expect(await waits()).toEqual([]);
  });

  it('a deleted volume is abandoned with its reason: nothing to snapshot', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.setVolumeState(t.volumeId, 'deleted');
    expect(summaryOf(await h.runEvent(t.podCleaned))).toMatchObject({ volumes_missing: 1, snapshots_created: 0 });
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ state: 'abandoned' })]);
  });

  it('CreateSnapshot answering IncorrectState is not a failure: the row waits for the next look and one snapshot is made later', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.addFault({
      service: 'ec2',
      action: 'CreateSnapshot',
      fault: { kind: 'error', status: 400, code: 'IncorrectState', message: `${t.volumeId} is not 'available'.` },
    });
    const refused = await h.runEvent(t.podCleaned);
    expect(refused).toMatchObject({
      outcome: 'accepted',
      summary: { snapshots_refused_by_ec2: 1, snapshots_created: 0 },
    });
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ state: 'requested' })]);
    h.clock.advanceMinutes(6);
    expect(summaryOf(await h.run())).toMatchObject({ snapshots_created: 1 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
  });

  it.each<[string, Record<string, string>, string]>([
    ['no tags at all', {}, 'none'],
    ["another user's tags", { 'gpu-dev-user': 'someone@example.com', disk_name: 'home' }, 'other'],
  ])(
    'does NOT snapshot a volume with %s: refused, recorded, counted, and not asked again',
    async (_label, volumeTags, owner) => {
      const t = await seedTeardown(h, db, { volumeTags });
      expect(summaryOf(await h.runEvent(t.podCleaned))).toMatchObject({ volumes_not_owned: 1, snapshots_created: 0 });
      expect(snapshotsOf(t.volumeId)).toEqual([]);
      expect(await rowsOf(t.reservationId)).toEqual([
        expect.objectContaining({ state: 'abandoned', snapshot_id: null }),
      ]);
      const [refused] = await decisionsFor(db.pool, 'volume', t.volumeId, 1);
      expect(refused).toMatchObject({
        action: 'refuse-snapshot',
        reason: expect.stringContaining("not this disk's volume"),
      });
      expect((await h.run()).summary.volumes_not_owned ?? 0).toBe(0);
      const foreign = await h.deps.metrics.registry.getSingleMetricAsString('devenv_lifecycle_foreign_objects_total');
      expect(foreign).toContain(`function="snapshot-sync",kind="volume",owner="${owner}"`);
    },
  );
});

describe("a disk that moved to the user's newer reservation", () => {
  async function moved(holdsDisk: boolean): Promise<{ old: Teardown; newer: string }> {
    const old = await seedTeardown(h, db);
    const newer = await insertReservation(db.pool, {
      user_id: old.userId,
      status: holdsDisk ? 'active' : 'expired',
      created_at: h.clock.now(),
      disk_name: old.diskName,
      ebs_volume_id: old.volumeId,
    });
    await db.pool.query('update disks set reservation_id = $2, in_use = $3 where disk_id = $1', [
      old.diskId,
      holdsDisk ? newer.reservation_id : null,
      holdsDisk,
    ]);
    return { old, newer: newer.reservation_id };
  }

  it('does NOT take a shutdown snapshot for the old reservation while the newer one holds the disk, and records why', async () => {
    const { old, newer } = await moved(true);
    expect(summaryOf(await h.runEvent(old.podCleaned))).toMatchObject({ refused_disk_moved: 1, snapshots_created: 0 });
    expect(snapshotsOf(old.volumeId)).toEqual([]);
    expect(await rowsOf(old.reservationId)).toEqual([expect.objectContaining({ state: 'abandoned' })]);
    const [refused] = await decisionsFor(db.pool, 'volume', old.volumeId, 1);
    expect(refused).toMatchObject({ action: 'refuse-snapshot', reason: expect.stringContaining(newer) });
    expect(summaryOf(await h.run())).toMatchObject({ snapshots_created: 0 });
  });

  it('does NOT take a second shutdown snapshot for the old reservation after the newer one ended and released the disk', async () => {
    const { old } = await moved(false);
    expect(summaryOf(await h.runEvent(old.podCleaned))).toMatchObject({ refused_disk_moved: 1, snapshots_created: 0 });
    expect(snapshotsOf(old.volumeId)).toEqual([]);
  });

  it('still snapshots for the reservation that holds the disk', async () => {
    const t = await seedTeardown(h, db);
    await db.pool.query('update disks set reservation_id = $2, in_use = true where disk_id = $1', [
      t.diskId,
      t.reservationId,
    ]);
    expect(summaryOf(await h.runEvent(t.podCleaned))).toMatchObject({ snapshots_created: 1, refused_disk_moved: 0 });
  });
});
