/*
 * cleanup-pod's teardown progress: one row per ended reservation, claimed with a committed lease,
 * advanced one step at a time. The sweep finds ended reservations that never got a row (a lost
 * event) and rows that are due again; both reads are read-only, the start and the lease are writes.
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

export interface TeardownCandidateRow {
  reservation_id: string;
  step: string;
  attempts: number;
  next_attempt_at: Date;
}

/** Read only: teardowns due now and not leased (or only the given ones), oldest first, through cleanup_progress_due. */
export async function dueTeardownRows(
  db: Db,
  request: { now: Date; limit: number; reservationIds?: string[] },
): Promise<TeardownCandidateRow[]> {
  const { rows } = await db.query<TeardownCandidateRow>(
    `select reservation_id, step, attempts, next_attempt_at from cleanup_progress
     where step <> 'done' and next_attempt_at <= $1 and (lease_expires_at is null or lease_expires_at < $1)
       and ($3::text[] is null or reservation_id = any($3::text[]))
     order by next_attempt_at limit $2`,
    [request.now, request.limit, request.reservationIds ?? null],
  );
  return rows;
}

/**
 * Read only: ended reservations without a teardown (a lost event leaves one behind), ended in the
 * last `sweepDays` (through reservations_terminal_since) or among the given ids, oldest first.
 */
export async function endedWithoutTeardown(
  db: Db,
  request: { now: Date; sweepDays: number; limit: number; reservationIds?: string[] },
): Promise<{ reservation_id: string; status_changed_at: Date }[]> {
  const { rows } = await db.query<{ reservation_id: string; status_changed_at: Date }>(
    `select r.reservation_id, r.status_changed_at from reservations r
     where r.status in ('expired', 'cancelled', 'failed')
       and ($4::text[] is not null and r.reservation_id = any($4::text[])
            or $4::text[] is null and r.status_changed_at > $1::timestamptz - make_interval(days => $2))
       and not exists (select 1 from cleanup_progress c where c.reservation_id = r.reservation_id)
     order by r.status_changed_at limit $3`,
    [request.now, request.sweepDays, request.limit, request.reservationIds ?? null],
  );
  return rows;
}

/** Start teardowns for these reservations where they ended and have none; returns the ids started. */
export async function startTeardowns(db: Db, reservationIds: string[], now: Date): Promise<string[]> {
  if (reservationIds.length === 0) return [];
  const { rows } = await db.query<{ reservation_id: string }>(
    `insert into cleanup_progress (reservation_id, step, next_attempt_at, started_at, updated_at)
     select r.reservation_id, 'delete_resources', $2, $2, $2 from reservations r
     where r.status in ('expired', 'cancelled', 'failed') and r.reservation_id = any($1::text[])
     on conflict (reservation_id) do nothing
     returning reservation_id`,
    [reservationIds, now],
  );
  return rows.map((row) => row.reservation_id);
}

/** Lease due teardowns (or the given ones), oldest first. */
export async function claimTeardowns(
  db: Db,
  request: { owner: string; now: Date; leaseSeconds: number; limit: number; reservationIds?: string[] },
): Promise<TeardownRow[]> {
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
  step: string;
  nextAttemptAt: Date;
  error?: string;
  failedAttempt: boolean;
  /** Give the lease back (the run is done with this teardown for now). */
  releaseLease: boolean;
}

/**
 * Record the outcomes of many teardowns' steps as the lease holder, in one statement; returns the
 * ids saved (a teardown whose lease was lost meanwhile is left out). `updated_at` is when the
 * current step was entered: a retry keeps it, so a pod stuck terminating is noticed after minutes
 * of retries (and deleted again with grace 0) instead of never.
 */
export async function saveSteps(db: Db, owner: string, now: Date, updates: StepUpdate[]): Promise<Set<string>> {
  if (updates.length === 0) return new Set();
  const { rows } = await db.query<{ reservation_id: string }>(
    `update cleanup_progress c set step = u.step, next_attempt_at = u.next_attempt_at, last_error = u.error,
       updated_at = case when c.step = u.step then c.updated_at else $2 end,
       attempts = c.attempts + case when u.failed then 1 else 0 end,
       completed_at = case when u.step = 'done' then $2::timestamptz end,
       lease_owner = case when u.step = 'done' or u.release then null else c.lease_owner end,
       lease_expires_at = case when u.step = 'done' or u.release then null else c.lease_expires_at end
     from jsonb_to_recordset($3::jsonb) as u(reservation_id text, step text, next_attempt_at timestamptz, error text, failed boolean, release boolean)
     where c.reservation_id = u.reservation_id and c.lease_owner = $1
     returning c.reservation_id`,
    [
      owner,
      now,
      JSON.stringify(
        updates.map((u) => ({
          reservation_id: u.reservationId,
          step: u.step,
          next_attempt_at: u.nextAttemptAt.toISOString(),
          error: u.error ?? null,
          failed: u.failedAttempt,
          release: u.releaseLease,
        })),
      ),
    ],
  );
  return new Set(rows.map((row) => row.reservation_id));
}

/** Give back the leases of teardowns this run will not advance further (deferred, or out of rounds). */
export async function releaseTeardownLeases(db: Db, reservationIds: string[], owner: string): Promise<void> {
  if (reservationIds.length === 0) return;
  await db.query(
    `update cleanup_progress set lease_owner = null, lease_expires_at = null where reservation_id = any($1::text[]) and lease_owner = $2`,
    [reservationIds, owner],
  );
}

export interface ReleasedDisk {
  reservation_id: string;
  user_id: string;
  disk_name: string;
  ebs_volume_id: string | null;
}

/**
 * Which of these reservations still hold their disk, locking the holder rows until the transaction
 * ends, so a snapshot request staged in it is for a disk the reservation held when it committed.
 * A reservation whose disk has no row at all holds its volume: nothing records another holder.
 */
export async function stillHoldDisks(
  db: Db,
  reservations: Array<{ reservationId: string; userId: string; diskName: string | null }>,
): Promise<Set<string>> {
  if (reservations.length === 0) return new Set();
  const { rows } = await db.query<{ reservation_id: string }>(
    `with r as (select * from jsonb_to_recordset($1::jsonb) as r(reservation_id text, user_id text, disk_name text)),
     held as (select d.reservation_id from disks d where d.reservation_id in (select reservation_id from r) for share of d)
     select r.reservation_id from r
     where r.reservation_id in (select reservation_id from held)
        or not exists (select 1 from disks d where d.user_id = r.user_id and d.disk_name = r.disk_name)`,
    [
      JSON.stringify(
        reservations.map((r) => ({ reservation_id: r.reservationId, user_id: r.userId, disk_name: r.diskName })),
      ),
    ],
  );
  return new Set(rows.map((row) => row.reservation_id));
}

/** Free the disks only where these reservations still hold them (origin bug A-4 freed a newer holder's disk). */
export async function releaseDisks(db: Db, reservationIds: string[], now: Date): Promise<ReleasedDisk[]> {
  if (reservationIds.length === 0) return [];
  const { rows } = await db.query<ReleasedDisk & { previous: string }>(
    `update disks set in_use = false, reservation_id = null, last_used = $2
     from (select d.disk_id, d.reservation_id as previous from disks d where d.reservation_id = any($1::text[])) held
     where disks.disk_id = held.disk_id and disks.reservation_id = held.previous
     returning held.previous, disks.user_id, disks.disk_name, disks.ebs_volume_id`,
    [reservationIds, now],
  );
  return rows.map(({ previous, ...disk }) => ({ ...disk, reservation_id: previous }));
}
