/*
 * cleanup-pod's teardown progress: one row per ended reservation, claimed with a committed lease,
 * advanced one step at a time. The sweep finds ended reservations that never got a row (a lost
 * event) and rows that are due again.
 */
import type { Db } from '../pool.js';

export interface TeardownRow {
  reservation_id: string;
  step: string;
  attempts: number;
  started_at: Date;
  updated_at: Date;
  user_id: string;
  pod_name: string | null;
  namespace: string | null;
  disk_name: string | null;
  ebs_volume_id: string | null;
  /** A disk names this reservation as its holder (`disks.reservation_id`). */
  holds_disk: boolean;
  /** The user's disk named by the reservation exists (false: no disk row records any holder). */
  disk_recorded: boolean;
  /** The holder of the user's disk named by the reservation (null: released, or no such disk). */
  disk_holder: string | null;
}

/** Start teardowns for ended reservations that have none; returns how many were started. */
export async function startTeardowns(db: Db, reservationIds: string[] | 'sweep', now: Date, sweepDays: number): Promise<number> {
  const { rowCount } = await db.query(
    `insert into cleanup_progress (reservation_id, step, next_attempt_at, started_at, updated_at)
     select r.reservation_id, 'delete_resources', $2, $2, $2 from reservations r
     where r.status in ('expired', 'cancelled', 'failed')
       and ($1::text[] is not null and r.reservation_id = any($1::text[])
            or $1::text[] is null and r.status_changed_at > $2::timestamptz - make_interval(days => $3))
     on conflict (reservation_id) do nothing`,
    [reservationIds === 'sweep' ? null : reservationIds, now, sweepDays],
  );
  return rowCount ?? 0;
}

/** Lease due teardowns (or the given ones), oldest first. */
export async function claimTeardowns(db: Db, request: { owner: string; now: Date; leaseSeconds: number; limit: number; reservationIds?: string[] }): Promise<TeardownRow[]> {
  const { rows } = await db.query<TeardownRow>(
    `with due as (
       select reservation_id from cleanup_progress
       where step <> 'done' and next_attempt_at <= $2 and (lease_expires_at is null or lease_expires_at < $2)
         and ($5::text[] is null or reservation_id = any($5::text[]))
       order by next_attempt_at limit $4 for update skip locked)
     update cleanup_progress c set lease_owner = $1, lease_expires_at = $2::timestamptz + make_interval(secs => $3)
     from due, reservations r
     where c.reservation_id = due.reservation_id and r.reservation_id = c.reservation_id
     returning c.reservation_id, c.step, c.attempts, c.started_at, c.updated_at, r.user_id, r.pod_name, r.namespace, r.disk_name, r.ebs_volume_id,
       exists (select 1 from disks d where d.reservation_id = c.reservation_id) as holds_disk,
       exists (select 1 from disks d where d.user_id = r.user_id and d.disk_name = r.disk_name) as disk_recorded,
       (select d.reservation_id from disks d where d.user_id = r.user_id and d.disk_name = r.disk_name) as disk_holder`,
    [request.owner, request.now, request.leaseSeconds, request.limit, request.reservationIds ?? null],
  );
  return rows;
}

export interface StepUpdate {
  reservationId: string;
  owner: string;
  step: string;
  now: Date;
  nextAttemptAt: Date;
  error?: string;
  failedAttempt: boolean;
  /** Give the lease back (the run is done with this teardown for now). */
  releaseLease: boolean;
}

/**
 * Record a step's outcome as the lease holder; false if the lease was lost meanwhile. `updated_at`
 * is when the current step was entered: a retry keeps it, so a pod stuck terminating is noticed
 * after minutes of retries (and deleted again with grace 0) instead of never.
 */
export async function saveStep(db: Db, update: StepUpdate): Promise<boolean> {
  const { rowCount } = await db.query(
    `update cleanup_progress set step = $3::text, next_attempt_at = $5, last_error = $6,
       updated_at = case when step = $3::text then updated_at else $4 end,
       attempts = attempts + case when $7 then 1 else 0 end,
       completed_at = case when $3::text = 'done' then $4::timestamptz end,
       lease_owner = case when $3::text = 'done' or $8 then null else lease_owner end,
       lease_expires_at = case when $3::text = 'done' or $8 then null else lease_expires_at end
     where reservation_id = $1 and lease_owner = $2`,
    [update.reservationId, update.owner, update.step, update.now, update.nextAttemptAt, update.error ?? null, update.failedAttempt, update.releaseLease],
  );
  return rowCount === 1;
}

export async function releaseTeardownLease(db: Db, reservationId: string, owner: string): Promise<void> {
  await db.query(`update cleanup_progress set lease_owner = null, lease_expires_at = null where reservation_id = $1 and lease_owner = $2`, [reservationId, owner]);
}

export interface ReleasedDisk {
  user_id: string;
  disk_name: string;
  ebs_volume_id: string | null;
}

/**
 * Whether this reservation still holds its disk, locking the holder row until the transaction
 * ends, so a snapshot request staged in it is for a disk this reservation held when it committed.
 * A reservation whose disk has no row at all holds its volume: nothing records another holder.
 */
export async function stillHoldsDisk(db: Db, reservation: { reservationId: string; userId: string; diskName: string | null }): Promise<boolean> {
  const held = await db.query(`select 1 from disks where reservation_id = $1 for share`, [reservation.reservationId]);
  if ((held.rowCount ?? 0) > 0) return true;
  const recorded = await db.query(`select 1 from disks where user_id = $1 and disk_name = $2`, [reservation.userId, reservation.diskName]);
  return (recorded.rowCount ?? 0) === 0;
}

/** Free the disk only if this reservation still holds it (origin bug A-4 freed a newer holder's disk). */
export async function releaseDisks(db: Db, reservationId: string, now: Date): Promise<ReleasedDisk[]> {
  const { rows } = await db.query<ReleasedDisk>(
    `update disks set in_use = false, reservation_id = null, last_used = $2
     where reservation_id = $1 returning user_id, disk_name, ebs_volume_id`,
    [reservationId, now],
  );
  return rows;
}

/** What a dry run would work on: unfinished teardowns and ended reservations without one. Reads only. */
export async function dueTeardowns(db: Db, now: Date, sweepDays: number, limit: number, reservationIds?: string[]): Promise<{ reservation_id: string; step: string }[]> {
  const { rows } = await db.query<{ reservation_id: string; step: string }>(
    `select r.reservation_id, coalesce(c.step, 'delete_resources') as step
     from reservations r left join cleanup_progress c using (reservation_id)
     where r.status in ('expired', 'cancelled', 'failed') and (c.step is null or c.step <> 'done')
       and ($4::text[] is not null and r.reservation_id = any($4::text[])
            or $4::text[] is null and r.status_changed_at > $1::timestamptz - make_interval(days => $2))
     order by r.status_changed_at limit $3`,
    [now, sweepDays, limit, reservationIds ?? null],
  );
  return rows;
}
