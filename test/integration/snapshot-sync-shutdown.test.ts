/*
 * Shutdown snapshots end to end: pod.cleaned events and the sweep, through the real EC2 client to
 * the simulator and a real database. One snapshot per (reservation, volume), whatever happens.
 */
import { describe, expect, it } from 'vitest';
import { decisionsFor } from '../../shared/db/queries/decisions.js';
import { diskCounters, seedTeardown, snapshotRows, useSyncHarness } from './snapshot-sync-harness.js';

const { db, h } = useSyncHarness();

const snapshotsOf = (volumeId: string) => h.aws.sim.snapshots().filter((s) => s.volumeId === volumeId);
const rowsOf = (reservationId: string) => snapshotRows(db, 'reservation_id = $1', [reservationId]);

describe('shutdown snapshot on pod.cleaned', () => {
  it('snapshots the detached volume once, tagged as the origin did, even when the event comes twice', async () => {
    const t = await seedTeardown(h, db);
    const first = await h.runEvent(t.podCleaned, 'ev-twice');
    const second = await h.runEvent(t.podCleaned, 'ev-twice');
    expect(first).toMatchObject({ outcome: 'accepted', summary: { snapshots_created: 1 } });
    expect(second).toMatchObject({ outcome: 'accepted', summary: { snapshots_created: 0 } });
    const [snapshot] = snapshotsOf(t.volumeId);
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
    const unix = String(Math.floor(h.clock.now().getTime() / 1000));
    expect(snapshot!.tags).toMatchObject({
      Name: `gpu-dev-shutdown-${t.userId.split('@')[0]!}-${unix}`,
      'gpu-dev-user': t.userId,
      'gpu-dev-snapshot-type': 'shutdown',
      SnapshotType: 'shutdown',
      created_at: unix,
      disk_name: t.diskName,
      'devenv-lifecycle/managed': 'true',
    });
    expect(await rowsOf(t.reservationId)).toEqual([
      expect.objectContaining({ state: 'pending', snapshot_id: snapshot!.snapshotId }),
    ]);
    expect(await diskCounters(db, t.diskId)).toMatchObject({ pending_snapshot_count: 1, is_backing_up: true });
  });

  it('does not snapshot a second time for a different event about the same teardown, nor in the sweep', async () => {
    const t = await seedTeardown(h, db);
    await h.runEvent(t.podCleaned);
    await h.runEvent(t.podCleaned);
    await h.run();
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
    expect(await diskCounters(db, t.diskId)).toMatchObject({ pending_snapshot_count: 1 });
  });

  it('leaves an attached volume alone and says so; snapshots it once detached', async () => {
    const t = await seedTeardown(h, db, { attached: true });
    const result = await h.runEvent(t.podCleaned);
    expect(result.summary).toMatchObject({ snapshots_created: 0, awaiting_volume: 1 });
    expect(snapshotsOf(t.volumeId)).toEqual([]);
    expect(await rowsOf(t.reservationId)).toEqual([]);
    h.aws.sim.detachVolume(t.volumeId);
    expect((await h.run()).summary).toMatchObject({ snapshots_created: 1 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
  });

  it("never takes someone else's pending snapshot of the volume for the shutdown snapshot (A-12)", async () => {
    const t = await seedTeardown(h, db);
    const stale = h.aws.sim.addSnapshot({
      volumeId: t.volumeId,
      state: 'pending',
      startTime: new Date(h.clock.now().getTime() - 3_600_000),
    });
    expect((await h.runEvent(t.podCleaned)).summary).toMatchObject({ snapshots_created: 1 });
    const [row] = await rowsOf(t.reservationId);
    expect(row?.snapshot_id).toMatch(/^snap-/);
    expect(row?.snapshot_id).not.toBe(stale.snapshotId);
  });

  it('does not snapshot for a reservation that has not ended', async () => {
    const t = await seedTeardown(h, db, { status: 'active', step: null });
    expect((await h.runEvent(t.podCleaned)).summary).toMatchObject({
      events_reservation_not_ended: 1,
      snapshots_created: 0,
    });
    expect(snapshotsOf(t.volumeId)).toEqual([]);
  });
});

describe('the sweep', () => {
  it('finds a teardown past the snapshot step whose event was lost', async () => {
    const t = await seedTeardown(h, db, { step: 'release_disk' });
    expect((await h.run()).summary).toMatchObject({ snapshots_created: 1 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
  });

  it('leaves teardowns that have not reached the snapshot step', async () => {
    const t = await seedTeardown(h, db, { step: 'await_detach' });
    await h.run();
    expect(snapshotsOf(t.volumeId)).toEqual([]);
  });

  it('abandons a teardown whose volume no longer exists, deleting nothing, and stops asking', async () => {
    const t = await seedTeardown(h, db);
    await h.deps.ec2.deleteVolume(t.volumeId); // someone else deleted it
    expect((await h.run()).summary).toMatchObject({ volumes_missing: 1, snapshots_created: 0 });
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ state: 'abandoned', snapshot_id: null })]);
    expect((await h.run()).summary.volumes_missing ?? 0).toBe(0);
  });
});

describe('bad data in the database', () => {
  it('a malformed volume id is reported and does not hold up the other teardowns', async () => {
    const bad = await seedTeardown(h, db);
    await db.pool.query(`update cleanup_progress set volume_id = 'vol-NOT-HEX' where reservation_id = $1`, [
      bad.reservationId,
    ]);
    const good = await seedTeardown(h, db);
    const result = await h.run();
    expect(result.summary).toMatchObject({ snapshots_created: 1, malformed_volume_ids: 1, awaiting_volume: 1 });
    expect(h.aws.sim.snapshots().map((s) => s.volumeId)).toEqual([good.volumeId]);
  });
});

describe('a crash between CreateSnapshot and recording its id', () => {
  const failRecording = () =>
    db.pool.query(`
    create or replace function test_fail_record() returns trigger language plpgsql as $$
    begin raise exception 'simulated crash while recording the snapshot id'; end $$;
    create trigger test_fail_record before update on snapshots for each row
      when (new.state = 'pending') execute function test_fail_record();`);
  const recover = () => db.pool.query('drop trigger test_fail_record on snapshots');

  it('keeps the snapshot and the volume (no compensation, A-12), reports failure, and the next run finds it by its token', async () => {
    const t = await seedTeardown(h, db);
    await failRecording();
    const crashed = await h.runEvent(t.podCleaned).finally(recover);
    expect(crashed.outcome).toBe('failed');
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    expect(await rowsOf(t.reservationId)).toEqual([expect.objectContaining({ state: 'requested', snapshot_id: null })]);

    const recovered = await h.run();
    expect(recovered.summary).toMatchObject({ snapshots_recovered: 1, snapshots_created: 0 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
    expect(await rowsOf(t.reservationId)).toEqual([
      expect.objectContaining({ state: 'pending', snapshot_id: snapshotsOf(t.volumeId)[0]!.snapshotId }),
    ]);
    expect(await diskCounters(db, t.diskId)).toMatchObject({ pending_snapshot_count: 1 });
  });

  it('when the answer to CreateSnapshot is lost, the retry finds the snapshot instead of making a second one', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.addFault({ service: 'ec2', action: 'CreateSnapshot', fault: { kind: 'lose-response' } });
    expect((await h.runEvent(t.podCleaned)).outcome).toBe('failed');
    expect((await h.run()).summary).toMatchObject({ snapshots_recovered: 1, snapshots_created: 0 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
  });

  it('makes the snapshot again on the same row when the earlier attempt never reached EC2', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.addFault({ service: 'ec2', action: 'CreateSnapshot', fault: { kind: 'reset' } });
    expect((await h.runEvent(t.podCleaned)).outcome).toBe('failed');
    // Moments later, not finding it by its token proves nothing (EC2 is eventually consistent).
    expect((await h.run()).summary).toMatchObject({ snapshots_created: 0, awaiting_volume: 1 });
    h.clock.advanceMinutes(6);
    expect((await h.run()).summary).toMatchObject({ snapshots_created: 1 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
    expect(await rowsOf(t.reservationId)).toHaveLength(1);
  });
});

describe('a reservation without a disk row (A-12)', () => {
  it('snapshots, keeps the snapshot and the volume, and records why', async () => {
    const t = await seedTeardown(h, db, { withDisk: false });
    expect((await h.runEvent(t.podCleaned)).summary).toMatchObject({ snapshots_created: 1, disk_rows_missing: 1 });
    h.clock.advanceMinutes(2);
    expect((await h.run()).summary).toMatchObject({ snapshots_completed: 1, volumes_kept: 1, volumes_deleted: 0 });
    expect(snapshotsOf(t.volumeId)).toHaveLength(1);
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    const [kept] = await decisionsFor(db.pool, 'volume', t.volumeId, 1);
    expect(kept).toMatchObject({ action: 'keep-volume', reason: expect.stringContaining('no disk row') });
  });
});
