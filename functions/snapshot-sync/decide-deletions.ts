/*
 * snapshot-sync's decisions about deleting snapshots, pure (like decide.ts): tagging the snapshots
 * of soft-deleted disks, purging them once the delete date has passed, and retention per disk. A
 * snapshot is deleted only when EC2 has just confirmed it is completed and carries the tags that
 * make it the one we mean; retention deletes only snapshots with our marker tag and never the
 * newest of a disk. Dates are calendar days in UTC, compared as numbers, never as strings.
 */
import type { SnapshotSeen } from './decide.js';
import { DELETE_DATE_TAG, DISK_NAME_TAG, MANAGED_TAG, USER_TAG } from './tags.js';

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 of a YYYY-MM-DD calendar date; null when the text is not a real date. */
function calendarDay(text: string | null | undefined): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text ?? '');
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12) return null;
  const monthStart = Date.UTC(year, month - 1, 1);
  const daysInMonth = (Date.UTC(year, month, 1) - monthStart) / DAY_MS;
  if (day < 1 || day > daysInMonth) return null;
  return monthStart / DAY_MS + day - 1;
}

const utcDay = (at: Date) => Math.floor(at.getTime() / DAY_MS);

// ---- tagging the snapshots of soft-deleted disks -------------------------------------------------

export interface SoftDeletedDisk {
  diskId: string;
  deleteDate: string | null;
  markedDeletedAt: Date;
  /** Its snapshots were already found and tagged for this delete date. */
  synced: boolean;
}

export interface DiskSnapshotRow {
  rowId: string;
  diskId: string;
  snapshotId: string;
  deleteAfter: string | null;
}

export type TagAction =
  | { kind: 'tag'; diskId: string; deleteDate: string; markedDeletedAt: Date; rows: DiskSnapshotRow[]; reason: string }
  | { kind: 'no-date'; diskId: string; reason: string };

export function decideDeletionTags(disks: SoftDeletedDisk[], rows: DiskSnapshotRow[]): TagAction[] {
  return disks.flatMap((disk): TagAction[] => {
    const day = calendarDay(disk.deleteDate);
    if (day === null || disk.deleteDate === null) {
      return [
        {
          kind: 'no-date',
          diskId: disk.diskId,
          reason: `soft-deleted without a usable delete_date (${String(disk.deleteDate)})`,
        },
      ];
    }
    const untagged = rows.filter((row) => row.diskId === disk.diskId && calendarDay(row.deleteAfter) !== day);
    if (untagged.length === 0 && disk.synced) return [];
    const reason = `the disk was soft-deleted: its snapshots go after ${disk.deleteDate}`;
    return [
      {
        kind: 'tag',
        diskId: disk.diskId,
        deleteDate: disk.deleteDate,
        markedDeletedAt: disk.markedDeletedAt,
        rows: untagged,
        reason,
      },
    ];
  });
}

// ---- deleting ---------------------------------------------------------------------------------------

export type DeleteCause = 'retention' | 'disk-deleted';

export type DeleteAction =
  | { kind: 'delete-snapshot'; rowId: string; snapshotId: string; cause: DeleteCause; reason: string }
  /** EC2 says the snapshot no longer exists: only our row changes. */
  | { kind: 'forget'; rowId: string; snapshotId: string; reason: string }
  /** Not deleted, and why: the evidence is missing or contradicts the row. */
  | { kind: 'spare'; rowId: string; snapshotId: string; reason: string };

export interface DeletePlan {
  actions: DeleteAction[];
  /** Deletions left for a later run: the run's deletion limit (SNAPSHOT_DELETE_BUDGET) was reached. */
  deferred: number;
}

/** What DescribeSnapshots said about the rows' snapshot ids in this run. */
export interface Observed {
  seen: ReadonlyMap<string, SnapshotSeen>;
  missing: ReadonlySet<string>;
}

/** The limit counts deletions only, in the order given; forgetting and sparing cost nothing. */
function withinLimit(actions: DeleteAction[], deleteLimit: number): DeletePlan {
  let left = Math.max(0, Math.floor(deleteLimit));
  let deferred = 0;
  const planned = actions.filter((action) => {
    if (action.kind !== 'delete-snapshot') return true;
    if (left === 0) {
      deferred += 1;
      return false;
    }
    left -= 1;
    return true;
  });
  return { actions: planned, deferred };
}

const spare = (row: { rowId: string; snapshotId: string }, reason: string): DeleteAction => ({
  kind: 'spare',
  ...ids(row),
  reason,
});
const forget = (row: { rowId: string; snapshotId: string }): DeleteAction => ({
  kind: 'forget',
  ...ids(row),
  reason: 'EC2 says it no longer exists',
});
const ids = (row: { rowId: string; snapshotId: string }) => ({ rowId: row.rowId, snapshotId: row.snapshotId });

export interface PurgeRow {
  rowId: string;
  snapshotId: string;
  userId: string;
  diskName: string | null;
  deleteAfter: string | null;
  diskDeleted: boolean;
  diskDeleteDate: string | null;
}

export function decidePurge(input: {
  now: Date;
  rows: PurgeRow[];
  observed: Observed;
  deleteLimit: number;
}): DeletePlan {
  const today = utcDay(input.now);
  return withinLimit(
    input.rows.map((row) => judgePurge(row, today, input.observed)),
    input.deleteLimit,
  );
}

function judgePurge(row: PurgeRow, today: number, observed: Observed): DeleteAction {
  const day = calendarDay(row.deleteAfter);
  if (!row.diskDeleted) return spare(row, 'the disk is no longer soft-deleted');
  if (day === null || day !== calendarDay(row.diskDeleteDate))
    return spare(row, "the disk's delete date is not the one the snapshot was tagged with");
  if (day >= today) return spare(row, `the delete date ${String(row.deleteAfter)} has not passed (UTC)`);
  if (observed.missing.has(row.snapshotId)) return forget(row);
  const snapshot = observed.seen.get(row.snapshotId);
  if (!snapshot) return spare(row, 'EC2 did not describe it');
  if (snapshot.state !== 'completed') return spare(row, `EC2 reports it ${snapshot.state}`);
  if (calendarDay(snapshot.tags[DELETE_DATE_TAG]) !== day)
    return spare(row, "its delete-date tag does not match the disk's delete date");
  const diskMatches = row.diskName === null || snapshot.tags[DISK_NAME_TAG] === row.diskName;
  if (snapshot.tags[USER_TAG] !== row.userId || !diskMatches)
    return spare(row, 'its user or disk tags name another disk');
  const reason = `the disk was soft-deleted and its delete date ${String(row.deleteAfter)} has passed`;
  return { kind: 'delete-snapshot', ...ids(row), cause: 'disk-deleted', reason };
}

export interface RetentionRow {
  rowId: string;
  diskId: string;
  snapshotId: string;
  userId: string;
  diskName: string | null;
  startedAt: Date;
}

/**
 * Keeps the newest `retentionCount` (never fewer than 1) existing completed snapshots of each disk;
 * older ones are deleted oldest first, only if ours. Never pools disks (the origin pooled a user's
 * disks and could delete another disk's only snapshot, A-11).
 */
export function decideRetention(input: {
  rows: RetentionRow[];
  observed: Observed;
  retentionCount: number;
  deleteLimit: number;
}): DeletePlan {
  const keep = Math.max(1, Math.floor(input.retentionCount) || 1);
  const gone = input.rows.filter((row) => input.observed.missing.has(row.snapshotId));
  const byDisk = new Map<string, RetentionRow[]>();
  for (const row of input.rows) {
    if (input.observed.missing.has(row.snapshotId)) continue;
    byDisk.set(row.diskId, [...(byDisk.get(row.diskId) ?? []), row]);
  }
  const older = [...byDisk.values()]
    .flatMap((rows) => rows.sort(newestFirst).slice(keep))
    .sort((a, b) => newestFirst(b, a));
  const actions = older.map((row) => judgeRetention(row, input.observed, keep));
  return withinLimit([...gone.map(forget), ...actions], input.deleteLimit);
}

const newestFirst = (a: RetentionRow, b: RetentionRow) =>
  b.startedAt.getTime() - a.startedAt.getTime() || b.snapshotId.localeCompare(a.snapshotId);

function judgeRetention(row: RetentionRow, observed: Observed, keep: number): DeleteAction {
  const snapshot = observed.seen.get(row.snapshotId);
  if (!snapshot) return spare(row, 'EC2 did not describe it');
  if (snapshot.state !== 'completed') return spare(row, `EC2 reports it ${snapshot.state}`);
  if (snapshot.tags[MANAGED_TAG] !== 'true') return spare(row, `not ours: no ${MANAGED_TAG} tag`);
  if (row.diskName !== null && snapshot.tags[DISK_NAME_TAG] !== row.diskName)
    return spare(row, 'its disk_name tag names another disk');
  // Every user's disk may be called `home`: the user tag is what makes the snapshot this disk's.
  if (snapshot.tags[USER_TAG] !== row.userId) return spare(row, 'its gpu-dev-user tag names another user, or none');
  return {
    kind: 'delete-snapshot',
    ...ids(row),
    cause: 'retention',
    reason: `older than the newest ${keep} completed snapshots of its disk`,
  };
}
