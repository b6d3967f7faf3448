/*
 * Disk rows as snapshot-sync sees them: the origin's snapshot counters (updated once per snapshot
 * id, in the transaction of the snapshot's own state change, origin bug A-10), the volume of a disk
 * whose volume we deleted, and soft-deleted disks whose snapshots must be tagged and later purged.
 */
import type { Db } from '../pool.js';

export async function countSnapshotStarted(db: Db, diskId: string): Promise<void> {
  await db.query(
    `update disks set pending_snapshot_count = pending_snapshot_count + 1, is_backing_up = true where disk_id = $1`,
    [diskId],
  );
}

export interface SnapshotFinished {
  /** Undo this snapshot's share of pending_snapshot_count (only if it was counted there). */
  wasCounted: boolean;
  completed: boolean;
  sizeGb: number | null;
  at: Date;
}

/** pending − 1 (floored at 0), backing up only while something is pending; on completion count +1. */
export async function countSnapshotFinished(db: Db, diskId: string, finished: SnapshotFinished): Promise<void> {
  await db.query(
    `update disks d set
       pending_snapshot_count = n.pending, is_backing_up = n.pending > 0,
       snapshot_count = d.snapshot_count + case when $3 then 1 else 0 end,
       last_snapshot_at = case when $3 then greatest(d.last_snapshot_at, $5::timestamptz) else d.last_snapshot_at end,
       size_gb = case when $3 and $4::int > 0 then $4::int else d.size_gb end
     from (select disk_id, greatest(pending_snapshot_count - case when $2 then 1 else 0 end, 0) as pending
           from disks where disk_id = $1) n
     where d.disk_id = n.disk_id`,
    [diskId, finished.wasCounted, finished.completed, finished.sizeGb, finished.at],
  );
}

/** The disk no longer points at a volume we deleted (compare-and-set on that volume). */
export async function forgetDiskVolume(db: Db, diskId: string, volumeId: string): Promise<void> {
  await db.query(`update disks set ebs_volume_id = null where disk_id = $1 and ebs_volume_id = $2`, [diskId, volumeId]);
}

export interface SoftDeletedDiskRow {
  disk_id: string;
  user_id: string;
  disk_name: string;
  /** YYYY-MM-DD, or null when the platform left it unset. */
  delete_date: string | null;
  marked_deleted_at: Date;
  /** Its snapshots were already found by their tags and tagged for this delete date. */
  synced: boolean;
}

/**
 * Soft-deleted disks with snapshots still to find or to tag for their current delete date, and
 * those without a delete date (reported each run: nothing is tagged or deleted without one).
 */
export async function softDeletedDisksToSync(db: Db, limit: number): Promise<SoftDeletedDiskRow[]> {
  const { rows } = await db.query<SoftDeletedDiskRow>(
    `select d.disk_id, d.user_id, d.disk_name, d.delete_date::text as delete_date,
       coalesce(d.marked_deleted_at, d.last_updated) as marked_deleted_at,
       coalesce(sync.delete_date = d.delete_date, false) as synced
     from disks d left join snapshot_disk_sync sync on sync.disk_id = d.disk_id
     where d.is_deleted
       and (d.delete_date is null or sync.delete_date is distinct from d.delete_date
            or exists (select 1 from snapshots s where s.disk_id = d.disk_id and s.state in ('pending', 'completed', 'error')
                       and s.delete_after is distinct from d.delete_date))
     order by d.delete_date nulls last, d.disk_id limit $1`,
    [limit],
  );
  return rows;
}

export interface DiskSnapshotRow {
  id: string;
  disk_id: string;
  snapshot_id: string;
  delete_after: string | null;
}

export async function snapshotsOfDisks(db: Db, diskIds: string[]): Promise<DiskSnapshotRow[]> {
  const { rows } = await db.query<DiskSnapshotRow>(
    `select id::text, disk_id, snapshot_id, delete_after::text as delete_after from snapshots
     where disk_id = any($1::uuid[]) and state in ('pending', 'completed', 'error') order by id`,
    [diskIds],
  );
  return rows;
}

export interface AdoptedSnapshot {
  snapshotId: string;
  volumeId: string;
  state: 'pending' | 'completed' | 'error';
  sizeGb: number;
  startTime: Date;
}

export interface AdoptedRow {
  snapshot_id: string;
  state: AdoptedSnapshot['state'];
  size_gb: number | null;
}

/**
 * Snapshots found by a disk's tags (the origin's, say) join our table; those already in it are left
 * as they are. `countPending`: a pending one is already in the disk's pending count (the origin
 * counted it), so its completion takes it off again. Returns the rows this call inserted.
 */
export async function adoptSnapshots(
  db: Db,
  disk: Pick<SoftDeletedDiskRow, 'disk_id' | 'user_id' | 'disk_name'>,
  found: AdoptedSnapshot[],
  now: Date,
  countPending = false,
): Promise<AdoptedRow[]> {
  if (found.length === 0) return [];
  const { rows } = await db.query<AdoptedRow>(
    `insert into snapshots (kind, snapshot_id, volume_id, disk_id, user_id, disk_name, state, size_gb,
                            requested_at, started_at, completed_at, updated_at, counted_on_disk)
     select 'adopted', a."snapshotId", a."volumeId", $2, $3, $4, a.state, a."sizeGb", a."startTime", a."startTime",
            case when a.state = 'completed' then $5::timestamptz end, $5, $6 and a.state = 'pending'
     from jsonb_to_recordset($1::jsonb) as a("snapshotId" text, "volumeId" text, state text, "sizeGb" int, "startTime" timestamptz)
     on conflict (snapshot_id) do nothing
     returning snapshot_id, state, size_gb`,
    [JSON.stringify(found), disk.disk_id, disk.user_id, disk.disk_name, now, countPending],
  );
  return rows;
}

/** The rows' snapshots now carry the delete-date tag; the disk is synced for that date. */
export async function markTaggedForDeletion(
  db: Db,
  diskId: string,
  rowIds: string[],
  deleteDate: string,
  now: Date,
): Promise<void> {
  await db.query(`update snapshots set delete_after = $2::date, updated_at = $3 where id = any($1::bigint[])`, [
    rowIds,
    deleteDate,
    now,
  ]);
  await db.query(
    `insert into snapshot_disk_sync (disk_id, delete_date, synced_at) values ($1, $2::date, $3)
     on conflict (disk_id) do update set delete_date = excluded.delete_date, synced_at = excluded.synced_at`,
    [diskId, deleteDate, now],
  );
}

export interface VolumeCandidateRow {
  id: string;
  snapshot_id: string;
  volume_id: string;
  reservation_id: string;
  user_id: string;
  disk_name: string | null;
  disk_id: string | null;
  reservation_ended: boolean;
  superseded: boolean;
  disk_known: boolean;
  held_by_other: boolean;
}

/**
 * Completed shutdown snapshots whose volume is undecided, with the facts that decide it: has the
 * reservation ended, does a later snapshot or reservation use the volume, who holds the disk.
 */
export async function volumesAfterSnapshot(db: Db, limit: number): Promise<VolumeCandidateRow[]> {
  const { rows } = await db.query<VolumeCandidateRow>(
    `select s.id::text, s.snapshot_id, s.volume_id, s.reservation_id, s.user_id, s.disk_name, d.disk_id,
       r.status in ('expired', 'cancelled', 'failed') as reservation_ended,
       exists (select 1 from snapshots later where later.volume_id = s.volume_id and later.id <> s.id
               and later.requested_at >= s.requested_at)
       or exists (select 1 from reservations other where other.ebs_volume_id = s.volume_id
                  and other.reservation_id <> r.reservation_id
                  and (other.created_at > r.created_at or other.status not in ('expired', 'cancelled', 'failed'))) as superseded,
       d.disk_id is not null as disk_known,
       coalesce((d.in_use or d.reservation_id is not null) and d.reservation_id is distinct from r.reservation_id
                and (d.ebs_volume_id is null or d.ebs_volume_id = s.volume_id), false) as held_by_other
     from snapshots s
     join reservations r on r.reservation_id = s.reservation_id
     left join disks d on d.disk_id = s.disk_id
     where s.kind = 'shutdown' and s.state = 'completed' and s.volume_outcome is null
     order by s.completed_at limit $1`,
    [limit],
  );
  return rows;
}

export type VolumeOutcome = 'deleted' | 'gone' | 'kept';

/** What became of the volume, once (compare-and-set on it being undecided). */
export async function recordVolumeOutcome(
  db: Db,
  snapshotRowId: string,
  outcome: VolumeOutcome,
  now: Date,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update snapshots set volume_outcome = $2, volume_outcome_at = $3, updated_at = $3 where id = $1 and volume_outcome is null`,
    [snapshotRowId, outcome, now],
  );
  return rowCount === 1;
}

export interface PurgeRow {
  id: string;
  snapshot_id: string;
  user_id: string;
  disk_name: string | null;
  delete_after: string;
  disk_deleted: boolean;
  disk_delete_date: string | null;
}

/** Completed snapshots tagged for a soft-deleted disk whose delete date is before `today`. */
export async function purgeDue(db: Db, today: string, limit: number): Promise<PurgeRow[]> {
  const { rows } = await db.query<PurgeRow>(
    `select s.id::text, s.snapshot_id, s.user_id, s.disk_name, s.delete_after::text as delete_after,
       d.is_deleted as disk_deleted, d.delete_date::text as disk_delete_date
     from snapshots s join disks d on d.disk_id = s.disk_id
     where s.delete_after is not null and s.state = 'completed' and s.delete_after < $1::date
     order by s.delete_after, s.id limit $2`,
    [today, limit],
  );
  return rows;
}

export interface RetentionRow {
  id: string;
  disk_id: string;
  snapshot_id: string;
  user_id: string;
  disk_name: string | null;
  started_at: Date;
}

/**
 * Every completed snapshot of the disks (not soft-deleted) that have more than `keep`, newest
 * first per disk, so a limit that cuts a disk's list short drops its oldest, never its newest.
 * Only disks not yet found within `keep` since their last completion are counted (0006).
 */
export async function retentionCandidates(db: Db, keep: number, limit: number): Promise<RetentionRow[]> {
  const { rows } = await db.query<RetentionRow>(
    `select s.id::text, s.disk_id, s.snapshot_id, s.user_id, s.disk_name, coalesce(s.started_at, s.requested_at) as started_at
     from snapshots s
     where s.state = 'completed' and s.disk_id in (
       select r.disk_id from snapshot_retention r join disks d on d.disk_id = r.disk_id and not d.is_deleted
       where (r.checked_keep is null or r.checked_keep > $1)
         and (select count(*) from snapshots c where c.disk_id = r.disk_id and c.state = 'completed') > $1)
     order by s.disk_id, coalesce(s.started_at, s.requested_at) desc, s.snapshot_id desc limit $2`,
    [keep, limit],
  );
  return rows;
}

/**
 * Remember the disks now within `keep` completed snapshots, so later runs skip them until one of
 * their snapshots completes. Disks still over the count (deletions left to a later run, snapshots
 * that are not ours) stay due. Returns how many were marked.
 */
export async function markRetentionChecked(db: Db, keep: number): Promise<number> {
  const { rowCount } = await db.query(
    `update snapshot_retention r set checked_keep = $1
     where (r.checked_keep is null or r.checked_keep > $1)
       and (select count(*) from snapshots c where c.disk_id = r.disk_id and c.state = 'completed') <= $1`,
    [keep],
  );
  return rowCount ?? 0;
}

// ---- cut-over leftovers: disks the origin left backing up ------------------------------------

export interface BackingUpDiskRow {
  disk_id: string;
  user_id: string;
  disk_name: string;
  ebs_volume_id: string | null;
  pending_snapshot_count: number;
  is_backing_up: boolean;
  /** Our own pending snapshots counted in pending_snapshot_count. */
  explained: number;
}

/**
 * Disks whose pending count is more than our own counted pending snapshots explain, or that are
 * flagged backing up with nothing pending at all (0011's partial index finds the candidates).
 */
export async function disksBackingUpUnexplained(db: Db, limit: number): Promise<BackingUpDiskRow[]> {
  const { rows } = await db.query<BackingUpDiskRow>(
    `select d.disk_id, d.user_id, d.disk_name, d.ebs_volume_id, d.pending_snapshot_count, d.is_backing_up, ours.explained
     from disks d
     cross join lateral (select count(*) filter (where s.counted_on_disk)::int as explained, count(*)::int as pending
                         from snapshots s where s.disk_id = d.disk_id and s.state = 'pending') ours
     where (d.is_backing_up or d.pending_snapshot_count > 0)
       and (d.pending_snapshot_count > ours.explained or (d.pending_snapshot_count = 0 and ours.pending = 0))
     order by d.disk_id limit $1`,
    [limit],
  );
  return rows;
}

/**
 * Holds the disk's counters for the reconciliation, if they are still what it read (a poll or
 * another run may have changed them since: then nothing is done, and a later run reads again).
 */
export async function lockDiskCount(db: Db, diskId: string, pendingCount: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `select 1 from disks where disk_id = $1 and pending_snapshot_count = $2 for update`,
    [diskId, pendingCount],
  );
  return rowCount === 1;
}
