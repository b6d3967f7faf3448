/*
 * snapshot-sync under the kernel's safety rails: its snapshot and volume deletions are destructive.
 * In shadow mode it decides and records every decision as `shadow` and leaves every snapshot and
 * volume alone; past the blast-radius breaker's limit a run deletes nothing and ends halted; under
 * the limit the same deletions go ahead.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import type { Deps } from '../../shared/deps.js';
import { seedTeardown, snapshotRows, useSyncHarness } from './snapshot-sync-harness.js';
import { seedCompleted, seedDisk } from './snapshot-sync-seed.js';

const { db, h } = useSyncHarness();

type Rails = NonNullable<Deps['run']['rails']>;

function runWith(rails: Partial<Rails>) {
  const deps = { ...h.deps, run: { ...h.deps.run, rails: { ...h.deps.run.rails!, ...rails } } };
  return snapshotSync.handle(
    { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: { dryRun: false } },
    deps,
  );
}

/** A volume whose shutdown snapshot completed (due for deletion), and a disk with two snapshots past retention. */
async function seedDeletions() {
  const t = await seedTeardown(h, db);
  await h.run({ maxItems: 1 }); // creates the shutdown snapshot only
  h.clock.advanceMinutes(2);
  await h.run({ maxItems: 1 }); // completes it, leaves the volume
  const disk = await seedDisk(h, db);
  const ids = [
    await seedCompleted(h, db, disk, 1),
    await seedCompleted(h, db, disk, 2),
    await seedCompleted(h, db, disk, 3),
    await seedCompleted(h, db, disk, 4),
    await seedCompleted(h, db, disk, 5),
  ];
  return { volumeId: t.volumeId, snapshotIds: ids };
}

const volumeExists = (volumeId: string) => h.aws.sim.volume(volumeId) !== undefined;
const inEc2 = (ids: string[]) => ids.filter((id) => h.aws.sim.snapshot(id) !== undefined);
const decisions = async (outcome: string) =>
  (
    await db.pool.query<{ action: string; entity_id: string }>(
      'select action, entity_id from decision_log where outcome = $1 order by id',
      [outcome],
    )
  ).rows;

describe('snapshot-sync under the safety rails', () => {
  it('in shadow mode deletes no snapshot and no volume, and records each deletion as a shadow decision', async () => {
    const seeded = await seedDeletions();
    const calls = h.aws.sim.calls().length;
    const result = await runWith({ shadowFunctions: ['snapshot-sync'] });
    expect(result.outcome).toBe('succeeded');
    expect(result.summary).toMatchObject({ deleted_snapshots: 0, volumes_deleted: 0 });
    expect(volumeExists(seeded.volumeId)).toBe(true);
    expect(inEc2(seeded.snapshotIds)).toEqual(seeded.snapshotIds);
    expect(await snapshotRows(db, "state in ('deleting', 'deleted')")).toEqual([]);
    const written = h.aws.sim
      .calls()
      .slice(calls)
      .map((call) => call.action);
    expect(
      written.filter((action) => ['DeleteVolume', 'DeleteSnapshot', 'CreateTags', 'CreateSnapshot'].includes(action)),
    ).toEqual([]);
    const shadow = await decisions('shadow');
    expect(shadow).toEqual(
      expect.arrayContaining([
        { action: 'delete-volume', entity_id: seeded.volumeId },
        ...seeded.snapshotIds.slice(3).map((id) => ({ action: 'delete-snapshot', entity_id: id })),
      ]),
    );
  });

  it('out of shadow mode, the same deletions go ahead (the shadow test can fail)', async () => {
    const seeded = await seedDeletions();
    const result = await runWith({ shadowFunctions: [] });
    expect(result.summary).toMatchObject({ deleted_snapshots: 2, volumes_deleted: 1 });
    expect(volumeExists(seeded.volumeId)).toBe(false);
    expect(inEc2(seeded.snapshotIds)).toEqual(seeded.snapshotIds.slice(0, 3));
    expect(await decisions('shadow')).toEqual([]);
  });

  it("past the breaker's limit deletes nothing more and ends halted, counting the run's earlier stages", async () => {
    const seeded = await seedDeletions();
    // A limit of 2: the volume (1) goes, then the two snapshots would make 3 in this run.
    const result = await runWith({ breakerMinActions: 2, breakerFleetPercent: 1, shadowFunctions: [] });
    expect(result.outcome).toBe('halted');
    expect(result.summary).toMatchObject({ volumes_deleted: 1, deleted_snapshots: 0, destructive: 1 });
    expect(inEc2(seeded.snapshotIds)).toEqual(seeded.snapshotIds);
    expect((await decisions('halted')).map((d) => d.action)).toEqual(
      expect.arrayContaining(['breaker-trip', 'delete-snapshot']),
    );
  });

  it('with no room left, deletes no volume and no snapshot', async () => {
    const seeded = await seedDeletions();
    const result = await runWith({ breakerMinActions: 0, breakerFleetPercent: 1, shadowFunctions: [] });
    expect(result.outcome).toBe('halted');
    expect(volumeExists(seeded.volumeId)).toBe(true);
    expect(inEc2(seeded.snapshotIds)).toEqual(seeded.snapshotIds);
  });

  it('within the limit, the breaker lets every deletion through', async () => {
    await seedDeletions();
    const result = await runWith({ breakerMinActions: 3, breakerFleetPercent: 1, shadowFunctions: [] });
    expect(result).toMatchObject({
      outcome: 'succeeded',
      summary: { volumes_deleted: 1, deleted_snapshots: 2, destructive: 3 },
    });
  });
});
