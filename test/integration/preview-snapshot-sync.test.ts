/*
 * Policy preview of a staged function (snapshot-sync): every stage decided on the live data with the
 * current and with changed settings; what the changed retention would delete is listed, and nothing
 * is written — every table row-for-row the same and no EC2 call other than a Describe.
 */
import { describe, expect, it } from 'vitest';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { formatPreview } from '../../local/cli-preview.js';
import { everyRow, previewOf, withPolicy } from '../support/preview.js';
import { useSyncHarness } from './snapshot-sync-harness.js';
import { seedCompleted, seedDisk } from './snapshot-sync-seed.js';

const { db, h } = useSyncHarness();

const ec2Writes = () => h.aws.sim.calls().filter((call) => !call.action.startsWith('Describe'));
const everything = () => everyRow(db.pool);
const retention = (count: number) => withPolicy(h.deps.config, { snapshotRetentionCount: count });
const preview = previewOf(snapshotSync, () => h.deps);

describe('policy preview of snapshot-sync (staged)', () => {
  it('lists the snapshot a smaller retention would delete now, and writes nothing', async () => {
    const disk = await seedDisk(h, db);
    // Newest first: with 3 kept the 4-day-old one goes; with 2 kept the 3-day-old one goes too.
    const ids = [];
    for (const ageDays of [1, 2, 3, 4]) ids.push(await seedCompleted(h, db, disk, ageDays));
    const before = await everything();
    const writesBefore = ec2Writes();

    const result = await preview(retention(2));

    expect(result.added.map((a) => [a.step, a.kind, a.entity.id, a.destructive])).toEqual([
      ['delete-snapshots', 'delete-snapshot', ids[2], true],
    ]);
    expect(result.dropped).toEqual([]);
    expect(result.unchanged).toBe(1); // the 4-day-old one, deleted either way
    expect(result.notes.join('\n')).toMatch(/each step is decided on the data as it is now/);
    const text = formatPreview(result, { SNAPSHOT_RETENTION_COUNT: '2' });
    expect(text).toContain('would delete-snapshot 1\n');
    expect(text).toContain('[delete-snapshots]');
    expect(text).toContain(ids[2]);
    expect(text).toContain('note: each step is decided on the data as it is now');

    expect(await everything()).toEqual(before);
    expect(ec2Writes()).toEqual(writesBefore);
    expect(ec2Writes()).toEqual([]);
    expect(ids.every((id) => h.aws.sim.snapshot(id) !== undefined)).toBe(true);
  });

  it('lists nothing when the changed setting does not change what would happen', async () => {
    const disk = await seedDisk(h, db);
    for (const ageDays of [1, 2, 3, 4]) await seedCompleted(h, db, disk, ageDays);
    const result = await preview(retention(3));
    expect(result.added).toEqual([]);
    expect(result.dropped).toEqual([]);
    expect(result.unchanged).toBe(1);
    expect(formatPreview(result, { SNAPSHOT_RETENTION_COUNT: '3' })).toContain(
      'no difference (1 action(s) either way)',
    );
  });
});
