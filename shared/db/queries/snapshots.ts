/*
 * The snapshots table (0002, 0004): snapshot-sync's record of every shutdown snapshot, written
 * before CreateSnapshot and advanced by compare-and-set on its state, so a crash anywhere leaves a
 * row the next run can finish and no transition (and no disk counter update) ever happens twice.
 */
import type { Db } from '../pool.js';

const TERMINAL = `('expired', 'cancelled', 'failed')`;

export interface ShutdownTargetRow {
  reservation_id: string;
  user_id: string;
  disk_name: string | null;
  disk_id: string | null;
  volume_id: string;
  /** Another reservation that holds or held the disk after this one (the disk moved on). */
  held_by: string | null;
}

/**
 * Who holds the disk now, when not `r`: the disk row's holder, else the user's newest reservation
 * of the same disk created after `r` (a holder that has already released the disk again).
 */
const HELD_BY = `coalesce(case when d.reservation_id <> r.reservation_id then d.reservation_id end,
  (select n.reservation_id from reservations n where n.user_id = r.user_id and n.disk_name = r.disk_name
     and n.created_at > r.created_at order by n.created_at desc limit 1)) as held_by`;

/**
 * Ended reservations whose teardown is past the snapshot request, with a volume and no shutdown
 * row: the sweep that covers a lost pod.cleaned event. Newest teardowns first, within a window.
 */
export async function shutdownsDue(db: Db, now: Date, windowDays: number, limit: number): Promise<ShutdownTargetRow[]> {
  const { rows } = await db.query<ShutdownTargetRow>(
    `select r.reservation_id, r.user_id, r.disk_name, d.disk_id, v.volume_id, ${HELD_BY}
     from cleanup_progress cp
     join reservations r on r.reservation_id = cp.reservation_id
     cross join lateral (select coalesce(cp.volume_id, r.ebs_volume_id) as volume_id) v
     left join disks d on d.user_id = r.user_id and d.disk_name = r.disk_name
     where cp.step in ('release_disk', 'verify', 'done')
       and cp.updated_at > $1::timestamptz - make_interval(days => $2)
       and r.status in ${TERMINAL} and v.volume_id is not null
       and not exists (select 1 from snapshots s
                       where s.kind = 'shutdown' and s.reservation_id = r.reservation_id and s.volume_id = v.volume_id)
     order by cp.updated_at desc limit $3`,
    [now, windowDays, limit],
  );
  return rows;
}

export interface EventTargetRow extends Omit<ShutdownTargetRow, 'volume_id'> {
  volume_id: string | null;
  ended: boolean;
  has_row: boolean;
}

/** The shutdown target a pod.cleaned event names; the event's volume wins over the rows'. */
export async function shutdownTargetOf(
  db: Db,
  reservationId: string,
  volumeId: string | null,
): Promise<EventTargetRow | undefined> {
  const { rows } = await db.query<EventTargetRow>(
    `select r.reservation_id, r.user_id, r.disk_name, d.disk_id, v.volume_id, ${HELD_BY}, r.status in ${TERMINAL} as ended,
       exists (select 1 from snapshots s where s.kind = 'shutdown' and s.reservation_id = r.reservation_id
               and s.volume_id = v.volume_id) as has_row
     from reservations r
     left join cleanup_progress cp on cp.reservation_id = r.reservation_id
     left join disks d on d.user_id = r.user_id and d.disk_name = r.disk_name
     cross join lateral (select coalesce($2::text, cp.volume_id, r.ebs_volume_id) as volume_id) v
     where r.reservation_id = $1`,
    [reservationId, volumeId],
  );
  return rows[0];
}

export interface NewShutdownRow {
  id: string;
  request_token: string;
}

/**
 * The shutdown row, written before CreateSnapshot (`requested`) or instead of it (`abandoned`).
 * Undefined when the (reservation, volume) already has one: someone else got there first.
 */
export async function insertShutdownRow(
  db: Db,
  target: Omit<ShutdownTargetRow, 'held_by'>,
  state: 'requested' | 'abandoned',
  note: string | null,
  now: Date,
): Promise<NewShutdownRow | undefined> {
  const { rows } = await db.query<NewShutdownRow>(
    `insert into snapshots (kind, reservation_id, volume_id, disk_id, user_id, disk_name, state, last_error, requested_at, updated_at)
     values ('shutdown', $1, $2, $3, $4, $5, $6, $7, $8, $8)
     on conflict (reservation_id, volume_id) where kind = 'shutdown' and reservation_id is not null do nothing
     returning id::text, request_token::text`,
    [target.reservation_id, target.volume_id, target.disk_id, target.user_id, target.disk_name, state, note, now],
  );
  return rows[0];
}

export interface RequestedRow extends ShutdownTargetRow {
  id: string;
  request_token: string;
  updated_at: Date;
}

/** Rows whose CreateSnapshot outcome was never recorded (a crash, a lost answer), oldest first. */
export async function requestedSnapshots(db: Db, limit: number): Promise<RequestedRow[]> {
  const { rows } = await db.query<RequestedRow>(
    `select s.id::text, s.request_token::text, s.updated_at, s.reservation_id, s.user_id, s.disk_name, s.disk_id, s.volume_id, ${HELD_BY}
     from snapshots s join reservations r on r.reservation_id = s.reservation_id left join disks d on d.disk_id = s.disk_id
     where s.state = 'requested' and s.reservation_id is not null order by s.requested_at limit $1`,
    [limit],
  );
  return rows;
}

/**
 * Claim a requested row for another CreateSnapshot: a compare-and-set on when it was last touched
 * (within the millisecond a JavaScript Date keeps of PostgreSQL's microseconds).
 */
export async function claimRequested(db: Db, id: string, seenUpdatedAt: Date, now: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `update snapshots set updated_at = $3 where id = $1 and state = 'requested'
       and updated_at > $2::timestamptz - interval '1 millisecond' and updated_at < $2::timestamptz + interval '1 millisecond'`,
    [id, seenUpdatedAt, now],
  );
  return rowCount === 1;
}

export interface StartedSnapshot {
  snapshotId: string;
  startTime: Date;
  sizeGb: number;
}

/** requested → pending with the snapshot id. Returns the disk to count it on (once), if any. */
export async function recordStarted(
  db: Db,
  id: string,
  snapshot: StartedSnapshot,
  now: Date,
): Promise<{ disk_id: string | null } | undefined> {
  const { rows } = await db.query<{ disk_id: string | null }>(
    `update snapshots set state = 'pending', snapshot_id = $2, started_at = $3, size_gb = $4,
       counted_on_disk = disk_id is not null, last_error = null, updated_at = $5
     where id = $1 and state = 'requested' returning disk_id`,
    [id, snapshot.snapshotId, snapshot.startTime, snapshot.sizeGb, now],
  );
  return rows[0];
}

export async function abandonRequested(db: Db, id: string, note: string, now: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `update snapshots set state = 'abandoned', last_error = $2, updated_at = $3 where id = $1 and state = 'requested'`,
    [id, note, now],
  );
  return rowCount === 1;
}

export interface PendingRow {
  id: string;
  snapshot_id: string;
  started_at: Date;
}

export async function pendingSnapshots(db: Db, limit: number): Promise<PendingRow[]> {
  const { rows } = await db.query<PendingRow>(
    `select id::text, snapshot_id, coalesce(started_at, requested_at) as started_at
     from snapshots where state = 'pending' order by requested_at limit $1`,
    [limit],
  );
  return rows;
}

export interface FinishedRow {
  id: string;
  snapshot_id: string;
  volume_id: string;
  reservation_id: string | null;
  disk_id: string | null;
  disk_name: string | null;
  /** The snapshot was counted in its disk's pending_snapshot_count until now. */
  was_counted: boolean;
}

export type Finish = { state: 'completed'; sizeGb: number } | { state: 'error'; note: string };

/** pending → completed or error, exactly once (compare-and-set on the state). */
export async function finishSnapshot(db: Db, id: string, finish: Finish, now: Date): Promise<FinishedRow | undefined> {
  const completed = finish.state === 'completed';
  const { rows } = await db.query<FinishedRow>(
    `update snapshots s set state = $2, completed_at = case when $3 then $6::timestamptz end,
       size_gb = coalesce($4, s.size_gb), last_error = $5, counted_on_disk = false, updated_at = $6
     from (select id, counted_on_disk from snapshots where id = $1 and state = 'pending' for update) prev
     where s.id = prev.id
     returning s.id::text, s.snapshot_id, s.volume_id, s.reservation_id, s.disk_id, s.disk_name, prev.counted_on_disk as was_counted`,
    [id, finish.state, completed, completed ? finish.sizeGb : null, completed ? null : finish.note, now],
  );
  return rows[0];
}

/** completed → deleting: written before DeleteSnapshot, so a crash leaves a row to finish. */
export async function markDeleting(db: Db, id: string, now: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `update snapshots set state = 'deleting', updated_at = $2 where id = $1 and state = 'completed'`,
    [id, now],
  );
  return rowCount === 1;
}

export interface DeletedRow {
  id: string;
  snapshot_id: string;
  volume_id: string;
  reservation_id: string | null;
  disk_name: string | null;
  /** Tagged for a soft-deleted disk's purge (else it went by retention). */
  for_deleted_disk: boolean;
}

const DELETED_COLUMNS = `id::text, snapshot_id, volume_id, reservation_id, disk_name, delete_after is not null as for_deleted_disk`;

/** Rows a run left in `deleting` (it stopped between marking and recording), oldest first. */
export async function unfinishedDeletions(db: Db, limit: number): Promise<DeletedRow[]> {
  const { rows } = await db.query<DeletedRow>(
    `select ${DELETED_COLUMNS} from snapshots where state = 'deleting' order by updated_at limit $1`,
    [limit],
  );
  return rows;
}

/**
 * deleting → deleted once EC2 confirmed it (or said it was already gone); `alsoFrom` lists other
 * states to leave for a snapshot EC2 says no longer exists.
 */
export async function markDeleted(
  db: Db,
  id: string,
  note: string | null,
  now: Date,
  alsoFrom: string[] = [],
): Promise<DeletedRow | undefined> {
  const { rows } = await db.query<DeletedRow>(
    `update snapshots set state = 'deleted', deleted_at = $2, updated_at = $2, last_error = coalesce($3, last_error)
     where id = $1 and (state = 'deleting' or state = any($4::text[])) returning ${DELETED_COLUMNS}`,
    [id, now, note, alsoFrom],
  );
  return rows[0];
}

/** deleting → completed when EC2 refused the deletion (in use by an AMI, say). */
export async function revertDeleting(db: Db, id: string, note: string, now: Date): Promise<void> {
  await db.query(
    `update snapshots set state = 'completed', last_error = $2, updated_at = $3 where id = $1 and state = 'deleting'`,
    [id, note, now],
  );
}

// ---- bounded waits (0011) ---------------------------------------------------------------------

export interface WaitInput {
  key: string;
  entityKind: string;
  entityId: string;
  reason: string;
}

export interface WaitRow {
  wait_key: string;
  since: Date;
  escalated_at: Date | null;
}

/** Starts the waits not yet recorded and refreshes the others; returns when each began. */
export async function recordWaits(db: Db, waits: WaitInput[], now: Date): Promise<WaitRow[]> {
  if (waits.length === 0) return [];
  const { rows } = await db.query<WaitRow>(
    `insert into snapshot_sync_waits (wait_key, entity_kind, entity_id, reason, since, last_seen_at)
     select w.key, w."entityKind", w."entityId", w.reason, $2, $2
     from jsonb_to_recordset($1::jsonb) as w(key text, "entityKind" text, "entityId" text, reason text)
     on conflict (wait_key) do update set reason = excluded.reason, last_seen_at = excluded.last_seen_at
     returning wait_key, since, escalated_at`,
    [JSON.stringify(waits), now],
  );
  return rows;
}

/** The waits are over (acted on, or no longer waiting). */
export async function endWaits(db: Db, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await db.query(`delete from snapshot_sync_waits where wait_key = any($1::text[])`, [keys]);
}

/** Escalated once: returns the keys this call marked (not those marked before). */
export async function markEscalated(db: Db, keys: string[], now: Date): Promise<string[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<{ wait_key: string }>(
    `update snapshot_sync_waits set escalated_at = $2 where wait_key = any($1::text[]) and escalated_at is null returning wait_key`,
    [keys, now],
  );
  return rows.map((row) => row.wait_key);
}

export interface KnownSnapshotRow {
  id: string;
  snapshot_id: string;
  disk_id: string | null;
  state: string;
  counted_on_disk: boolean;
}

export async function snapshotRowsByIds(db: Db, snapshotIds: string[]): Promise<KnownSnapshotRow[]> {
  if (snapshotIds.length === 0) return [];
  const { rows } = await db.query<KnownSnapshotRow>(
    `select id::text, snapshot_id, disk_id::text, state, counted_on_disk from snapshots where snapshot_id = any($1::text[])`,
    [snapshotIds],
  );
  return rows;
}

/** Pending rows of the disk now counted in its pending count (they were not). Returns how many. */
export async function countPendingOnDisk(db: Db, diskId: string, rowIds: string[]): Promise<number> {
  if (rowIds.length === 0) return 0;
  const { rowCount } = await db.query(
    `update snapshots set counted_on_disk = true where id = any($1::bigint[]) and disk_id = $2 and state = 'pending' and not counted_on_disk`,
    [rowIds, diskId],
  );
  return rowCount ?? 0;
}
