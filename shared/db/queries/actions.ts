/*
 * The extend function's reads and writes: the reservation as the policy sees it, the capacity
 * evidence, single-use token records, extensions and snoozes. Every write is a compare-and-set or
 * an insert that loses quietly to an earlier one; an empty result means someone else got there first.
 */
import type { Db } from '../pool.js';

export interface ActionSubjectRow {
  reservation_id: string;
  status: string;
  expires_at: Date | null;
  launched_at: Date | null;
  created_at: Date;
  gpu_type: string | null;
  pod_name: string | null;
  namespace: string | null;
  extensions: number;
  original_expires_at: Date | null;
}

export async function actionSubject(db: Db, reservationId: string): Promise<ActionSubjectRow | undefined> {
  const { rows } = await db.query<ActionSubjectRow>(
    `select r.reservation_id, r.status, r.expires_at, r.launched_at, r.created_at, r.gpu_type, r.pod_name, r.namespace,
            coalesce(e.extensions, 0) as extensions, e.original_expires_at
     from reservations r left join reservation_extensions e on e.reservation_id = r.reservation_id
     where r.reservation_id = $1`,
    [reservationId],
  );
  return rows[0];
}

export interface CapacityRow {
  waiting: number;
  oldest_waiting_since: Date | null;
  /** The soonest another active reservation of this GPU type is due to end: the earliest a GPU frees up. */
  next_free_at: Date | null;
}

export async function gpuCapacity(db: Db, gpuType: string, excludeReservationId: string): Promise<CapacityRow> {
  const { rows } = await db.query<CapacityRow>(
    `select
       (select count(*)::int from reservations where gpu_type = $1 and status in ('queued', 'pending')) as waiting,
       (select min(created_at) from reservations where gpu_type = $1 and status in ('queued', 'pending')) as oldest_waiting_since,
       (select min(expires_at) from reservations where gpu_type = $1 and status = 'active' and reservation_id <> $2) as next_free_at`,
    [gpuType, excludeReservationId],
  );
  return rows[0]!;
}

export async function tokenUsed(db: Db, jti: string): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from action_tokens where jti = $1', [jti]);
  return (rowCount ?? 0) > 0;
}

export interface TokenUse {
  jti: string;
  reservationId: string;
  action: 'extend' | 'snooze' | 'end-now';
  channel: 'link' | 'slack';
  outcome: 'extended' | 'snoozed' | 'ended';
  tokenExpiresAt: Date;
}

/** Record a token as used; false when it already was (a replay, or a concurrent click that won). */
export async function useToken(db: Db, use: TokenUse, now: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into action_tokens (jti, reservation_id, action, channel, outcome, used_at, token_expires_at)
     values ($1, $2, $3, $4, $5, $6, $7) on conflict (jti) do nothing`,
    [use.jti, use.reservationId, use.action, use.channel, use.outcome, now, use.tokenExpiresAt],
  );
  return rowCount === 1;
}

export interface ExtendRequest {
  reservationId: string;
  expectedExpiresAt: Date;
  expectedExtensions: number;
  newExpiresAt: Date;
  minutes: number;
  now: Date;
  /** When the capacity rule applies: the GPU type whose waiting reservations forbid the extension. */
  capacityGpuType?: string;
}

// The first half of the two-part advisory key of the capacity lock (single-flight uses 7_326_002).
export const CAPACITY_LOCK_NAMESPACE = 7_326_003;

/**
 * Move an active reservation's deadline from the one read to a later one, and count the
 * extension, under compare-and-set on status, deadline and count: a click racing another click or
 * `expire` changes nothing. Instants compare at millisecond precision (rows written with now()
 * carry microseconds). Returns false when the row had changed or, under the capacity rule,
 * reservations for its GPU type are now waiting.
 */
export async function extendReservation(db: Db, request: ExtendRequest): Promise<boolean> {
  // The capacity rule is checked again in the statement that extends, after the extensions of this
  // GPU type have queued on one transaction-level lock: the earlier read (which gave the answer's
  // evidence) cannot be outrun by a reservation queued since.
  if (request.capacityGpuType !== undefined)
    await db.query('select pg_advisory_xact_lock($1, hashtext($2))', [
      CAPACITY_LOCK_NAMESPACE,
      request.capacityGpuType,
    ]);
  const { rowCount } = await db.query(
    `update reservations set expires_at = $3, duration_hours = duration_hours + $4::float / 60
     where reservation_id = $1 and status = 'active' and date_trunc('milliseconds', expires_at) = $2 and $3 > expires_at
       and ($5::text is null or not exists (select 1 from reservations w where w.gpu_type = $5 and w.status in ('queued', 'pending')))`,
    [
      request.reservationId,
      request.expectedExpiresAt,
      request.newExpiresAt,
      request.minutes,
      request.capacityGpuType ?? null,
    ],
  );
  if (rowCount !== 1) return false;
  const counted = await db.query(
    `insert into reservation_extensions as e (reservation_id, original_expires_at, extensions, extended_minutes, last_extended_at)
     values ($1, $2, 1, $4, $5)
     on conflict (reservation_id) do update set extensions = e.extensions + 1, extended_minutes = e.extended_minutes + $4, last_extended_at = $5
     where e.extensions = $3`,
    [request.reservationId, request.expectedExpiresAt, request.expectedExtensions, request.minutes, request.now],
  );
  return counted.rowCount === 1;
}

/**
 * Mark every level of this deadline as delivered (snoozed) in warn's ledger, unless it is being
 * delivered right now; warn then skips them. Returns how many levels it silenced.
 */
export async function snoozeWarnings(
  db: Db,
  reservationId: string,
  expiresAt: Date,
  levelsMinutes: readonly number[],
  now: Date,
): Promise<number> {
  const { rowCount } = await db.query(
    `insert into warning_ledger as l (reservation_id, expires_at, level_minutes, state, first_attempt_at, sent_at, snoozed_at)
     select $1, $2, level, 'sent', $4, $4, $4 from unnest($3::int[]) as level
     on conflict (reservation_id, expires_at, level_minutes) do update set state = 'sent', sent_at = $4, snoozed_at = $4, webhook_state = null
     where l.state = 'failed'`,
    [reservationId, expiresAt, levelsMinutes, now],
  );
  return rowCount ?? 0;
}

/** A used token or a short link that may be forgotten: its key, its reservation and when it expired. */
export interface PrunableRow {
  key: string;
  reservationId: string;
  expiresAt: Date;
}

/** Used tokens that expired before `expiredBefore`, oldest first, through the expiry index. */
export async function expiredUsedTokens(db: Db, expiredBefore: Date, limit: number): Promise<PrunableRow[]> {
  const { rows } = await db.query<PrunableRow>(
    `select jti as "key", reservation_id as "reservationId", token_expires_at as "expiresAt" from action_tokens
     where token_expires_at < $1 order by token_expires_at limit $2`,
    [expiredBefore, limit],
  );
  return rows;
}

/**
 * Forget these used tokens if they expired before `expiredBefore` (their signature check refuses
 * them by then); answers the ones deleted.
 */
export async function deleteUsedTokens(db: Db, jtis: readonly string[], expiredBefore: Date): Promise<string[]> {
  if (jtis.length === 0) return [];
  const { rows } = await db.query<{ jti: string }>(
    'delete from action_tokens where jti = any($1::text[]) and token_expires_at < $2 returning jti',
    [jtis, expiredBefore],
  );
  return rows.map((row) => row.jti);
}

/** Lock the reservation if it is still active with this deadline (snooze's compare-and-set). */
export async function lockActiveDeadline(db: Db, reservationId: string, expiresAt: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `select 1 from reservations where reservation_id = $1 and status = 'active' and date_trunc('milliseconds', expires_at) = $2 for update`,
    [reservationId, expiresAt],
  );
  return rowCount === 1;
}
