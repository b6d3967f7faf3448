import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SnapshotSeen } from '../../functions/snapshot-sync/decide.js';
import { decideDeletionTags, decidePurge, decideRetention } from '../../functions/snapshot-sync/decide-deletions.js';
import type { Observed, PurgeRow, RetentionRow } from '../../functions/snapshot-sync/decide-deletions.js';

const now = new Date('2026-06-10T12:00:00Z');
const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000);
const ours = { 'devenv-lifecycle/managed': 'true' };

const seen = (snapshotId: string, tags: Record<string, string>, state = 'completed'): SnapshotSeen => ({
  snapshotId,
  state,
  startTime: daysAgo(30),
  sizeGb: 10,
  tags,
});
const observed = (snapshots: SnapshotSeen[], missing: string[] = []): Observed => ({
  seen: new Map(snapshots.map((s) => [s.snapshotId, s])),
  missing: new Set(missing),
});

describe('a delete date is a real YYYY-MM-DD calendar date', () => {
  const soft = { diskId: 'd-0', markedDeletedAt: daysAgo(1), synced: false };
  const kindFor = (deleteDate: string | null) => decideDeletionTags([{ ...soft, deleteDate }], [])[0]?.kind;
  it.each<[string | null, 'tag' | 'no-date']>([
    ['1970-01-01', 'tag'],
    ['1970-01-02', 'tag'],
    ['2028-02-29', 'tag'],
    ['2026-02-29', 'no-date'],
    ['2026-02-30', 'no-date'],
    ['2026-13-01', 'no-date'],
    ['2026-00-10', 'no-date'],
    ['2026-1-5', 'no-date'],
    ['06/10/2026', 'no-date'],
    ['2026-06-10T00:00:00Z', 'no-date'],
    ['', 'no-date'],
    [null, 'no-date'],
  ])('%s → %s', (text, kind) => {
    expect(kindFor(text)).toBe(kind);
  });

  it('a snapshot already tagged with the same day is left alone, one tagged with the day before or after is not', () => {
    const tagged = (rowId: string, deleteAfter: string) => ({
      rowId,
      diskId: 'd-0',
      snapshotId: `s-${rowId}`,
      deleteAfter,
    });
    const rows = [tagged('1', '2028-02-29'), tagged('2', '2028-02-28'), tagged('3', '2028-03-01')];
    expect(decideDeletionTags([{ ...soft, deleteDate: '2028-02-29' }], rows)).toEqual([
      expect.objectContaining({ kind: 'tag', rows: [rows[1], rows[2]] }),
    ]);
  });
});

describe('soft-deleted disks: tagging', () => {
  const disk = { diskId: 'd-1', deleteDate: '2026-06-20', markedDeletedAt: daysAgo(1), synced: true };
  const row = (rowId: string, deleteAfter: string | null) => ({
    rowId,
    diskId: 'd-1',
    snapshotId: `snap-${rowId}`,
    deleteAfter,
  });

  it("tags the snapshots not yet tagged with the disk's current delete date", () => {
    const actions = decideDeletionTags([disk], [row('1', null), row('2', '2026-06-20'), row('3', '2026-05-01')]);
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'tag',
        deleteDate: '2026-06-20',
        rows: [row('1', null), row('3', '2026-05-01')],
      }),
    ]);
  });

  it('has nothing to do for a synced disk whose snapshots are tagged', () => {
    expect(decideDeletionTags([disk], [row('2', '2026-06-20')])).toEqual([]);
  });

  it('still records an unsynced disk with no snapshots, so it is not searched again', () => {
    expect(decideDeletionTags([{ ...disk, synced: false }], [])).toEqual([
      expect.objectContaining({ kind: 'tag', rows: [] }),
    ]);
  });

  it.each([null, 'soon', '2026-02-30'])('leaves a disk with delete_date %s alone and says so', (deleteDate) => {
    expect(decideDeletionTags([{ ...disk, deleteDate }], [row('1', null)])).toEqual([
      expect.objectContaining({ kind: 'no-date', diskId: 'd-1' }),
    ]);
  });
});

describe('soft-deleted disks: purge', () => {
  const tags = { 'delete-date': '2026-06-01', 'gpu-dev-user': 'dev@example.com', disk_name: 'home' };
  const row = (overrides: Partial<PurgeRow> = {}): PurgeRow => ({
    rowId: '1',
    snapshotId: 'snap-1',
    userId: 'dev@example.com',
    diskName: 'home',
    deleteAfter: '2026-06-01',
    diskDeleted: true,
    diskDeleteDate: '2026-06-01',
    ...overrides,
  });
  const purge = (r: PurgeRow, snapshots = [seen('snap-1', tags)], missing: string[] = [], at = now) =>
    decidePurge({ now: at, rows: [r], observed: observed(snapshots, missing), deleteLimit: 10 }).actions.map(
      (a) => a.kind,
    );

  it.each<[string, Partial<PurgeRow>, string]>([
    ['the delete date has passed → delete', {}, 'delete-snapshot'],
    [
      'the delete date is today (not passed) → spare',
      { deleteAfter: '2026-06-10', diskDeleteDate: '2026-06-10' },
      'spare',
    ],
    ['the delete date is ahead → spare', { deleteAfter: '2026-07-01', diskDeleteDate: '2026-07-01' }, 'spare'],
    ['the disk was restored → spare', { diskDeleted: false }, 'spare'],
    ['the disk got a new delete date → spare', { diskDeleteDate: '2026-09-01' }, 'spare'],
    ['an unreadable date → spare', { deleteAfter: '2026-02-30', diskDeleteDate: '2026-02-30' }, 'spare'],
  ])('%s', (_label, overrides, kind) => {
    expect(
      purge(row(overrides), [seen('snap-1', { ...tags, 'delete-date': overrides.deleteAfter ?? tags['delete-date'] })]),
    ).toEqual([kind]);
  });

  it.each<[string, SnapshotSeen[], string[], string]>([
    ['EC2 says it is gone → forget (no DeleteSnapshot)', [], ['snap-1'], 'forget'],
    ['EC2 did not describe it → spare', [], [], 'spare'],
    ['not completed → spare', [seen('snap-1', tags, 'pending')], [], 'spare'],
    ['its delete-date tag differs → spare', [seen('snap-1', { ...tags, 'delete-date': '2026-08-01' })], [], 'spare'],
    [
      'its user tag names someone else → spare',
      [seen('snap-1', { ...tags, 'gpu-dev-user': 'other@example.com' })],
      [],
      'spare',
    ],
    ['its disk tag names another disk → spare', [seen('snap-1', { ...tags, disk_name: 'scratch' })], [], 'spare'],
  ])('%s', (_label, snapshots, missing, kind) => {
    expect(purge(row(), snapshots, missing)).toEqual([kind]);
  });

  it('compares calendar days in UTC: just before midnight UTC the date has not passed yet', () => {
    const r = row({ deleteAfter: '2026-06-09', diskDeleteDate: '2026-06-09' });
    const snapshots = [seen('snap-1', { ...tags, 'delete-date': '2026-06-09' })];
    expect(purge(r, snapshots, [], new Date('2026-06-10T00:30:00+02:00'))).toEqual(['spare']);
    expect(purge(r, snapshots, [], new Date('2026-06-10T00:00:00Z'))).toEqual(['delete-snapshot']);
  });

  it('keeps to the deletion budget and says how many wait', () => {
    const rows = ['1', '2', '3'].map((id) => row({ rowId: id, snapshotId: `snap-${id}` }));
    const plan = decidePurge({
      now,
      rows,
      observed: observed(rows.map((r) => seen(r.snapshotId, tags))),
      deleteLimit: 2,
    });
    expect(plan.actions.map((a) => a.snapshotId)).toEqual(['snap-1', 'snap-2']);
    expect(plan.deferred).toBe(1);
  });
});

describe('retention per disk', () => {
  const row = (snapshotId: string, diskId: string, ageDays: number): RetentionRow => ({
    rowId: snapshotId,
    diskId,
    snapshotId,
    userId: 'dev@example.com',
    diskName: diskId === 'A' ? 'home' : 'scratch',
    startedAt: daysAgo(ageDays),
  });
  const mine = (r: RetentionRow) =>
    seen(r.snapshotId, { ...ours, 'gpu-dev-user': r.userId, disk_name: r.diskName ?? '' });
  const retain = (
    rows: RetentionRow[],
    retentionCount = 3,
    budget = 10,
    snapshots = rows.map(mine),
    missing: string[] = [],
  ) => decideRetention({ rows, observed: observed(snapshots, missing), retentionCount, deleteLimit: budget });
  const deleted = (plan: ReturnType<typeof retain>) =>
    plan.actions.filter((a) => a.kind === 'delete-snapshot').map((a) => a.snapshotId);

  it('keeps the newest N of each disk and deletes the older ones, oldest first', () => {
    const rows = [row('a1', 'A', 1), row('a5', 'A', 5), row('a2', 'A', 2), row('a4', 'A', 4), row('a3', 'A', 3)];
    expect(deleted(retain(rows))).toEqual(['a5', 'a4']);
  });

  it("counts per disk, not per user: another disk's only snapshot is never deleted (A-11)", () => {
    const rows = [row('a1', 'A', 1), row('a2', 'A', 2), row('a3', 'A', 3), row('a4', 'A', 4), row('b9', 'B', 90)];
    expect(deleted(retain(rows))).toEqual(['a4']);
  });

  it('never keeps fewer than one, whatever the setting', () => {
    const rows = [row('a1', 'A', 1), row('a2', 'A', 2)];
    expect(deleted(retain(rows, 0))).toEqual(['a2']);
    expect(deleted(retain(rows, -3))).toEqual(['a2']);
  });

  it('spares a snapshot that is not ours, or whose tags name another disk', () => {
    const rows = [row('a1', 'A', 1), row('a2', 'A', 2), row('a3', 'A', 3)];
    const snapshots = [
      mine(rows[0]!),
      seen('a2', { disk_name: 'home' }),
      seen('a3', { ...ours, disk_name: 'scratch' }),
    ];
    expect(retain(rows, 1, 10, snapshots).actions.map((a) => [a.snapshotId, a.kind])).toEqual([
      ['a3', 'spare'],
      ['a2', 'spare'],
    ]);
  });

  it('does NOT delete one of ours whose user tag names another user (every user has a disk called home), or none', () => {
    const rows = [row('a1', 'A', 1), row('a2', 'A', 2), row('a3', 'A', 3)];
    const snapshots = [
      mine(rows[0]!),
      seen('a2', { ...ours, 'gpu-dev-user': 'other@example.com', disk_name: 'home' }),
      seen('a3', { ...ours, disk_name: 'home' }),
    ];
    expect(retain(rows, 1, 10, snapshots).actions.map((a) => [a.snapshotId, a.kind])).toEqual([
      ['a3', 'spare'],
      ['a2', 'spare'],
    ]);
  });

  it('forgets snapshots EC2 no longer has and does not count them as kept', () => {
    const rows = [row('a1', 'A', 1), row('a2', 'A', 2), row('a3', 'A', 3)];
    const plan = retain(rows, 2, 10, rows.slice(1).map(mine), ['a1']);
    expect(plan.actions.map((a) => [a.snapshotId, a.kind])).toEqual([['a1', 'forget']]);
  });

  it('keeps to the budget', () => {
    const rows = Array.from({ length: 8 }, (_x, i) => row(`a${i}`, 'A', i));
    const plan = retain(rows, 3, 2);
    expect(deleted(plan)).toEqual(['a7', 'a6']);
    expect(plan.deferred).toBe(3);
  });

  it('never deletes the newest existing snapshot of a disk, nor more than the budget (property)', () => {
    const rowsArb = fc.array(
      fc.record({ disk: fc.constantFrom('A', 'B', 'C'), age: fc.integer({ min: 0, max: 50 }), gone: fc.boolean() }),
      { maxLength: 25 },
    );
    fc.assert(
      fc.property(rowsArb, fc.integer({ min: -1, max: 5 }), fc.integer({ min: 0, max: 30 }), (specs, count, budget) => {
        const rows = specs.map((s, i) => row(`s${i}`, s.disk, s.age));
        const missing = rows.filter((_r, i) => specs[i]!.gone).map((r) => r.snapshotId);
        const plan = retain(
          rows,
          count,
          budget,
          rows.filter((r) => !missing.includes(r.snapshotId)).map(mine),
          missing,
        );
        const gone = deleted(plan);
        expect(gone.length).toBeLessThanOrEqual(budget);
        for (const disk of ['A', 'B', 'C']) {
          const existing = rows.filter((r) => r.diskId === disk && !missing.includes(r.snapshotId));
          const kept = existing.filter((r) => !gone.includes(r.snapshotId));
          if (existing.length > 0)
            expect(kept.length).toBeGreaterThanOrEqual(Math.min(existing.length, Math.max(1, count)));
        }
      }),
    );
  });
});
