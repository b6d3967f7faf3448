/*
 * Reservation reads for the sweeps (each served by a partial index, see 0002) and the one guarded
 * write that ends a reservation: a compare-and-set on the state that justified it. An empty result
 * means someone else changed the row first (an extension, a cancellation, another runner).
 */
import type { Db } from '../pool.js';
import { outboxInsertSql } from './outbox.js';
import type { OutboxRecords } from './outbox.js';

export interface ReservationRow {
  reservation_id: string;
  user_id: string;
  status: string;
  expires_at: Date | null;
  launched_at: Date | null;
  status_changed_at: Date;
  pod_name: string | null;
  namespace: string | null;
  disk_name: string | null;
  ebs_volume_id: string | null;
}

const COLUMN_NAMES = [
  'reservation_id',
  'user_id',
  'status',
  'expires_at',
  'launched_at',
  'status_changed_at',
  'pod_name',
  'namespace',
  'disk_name',
  'ebs_volume_id',
];
const COLUMNS = COLUMN_NAMES.join(', ');
const prefixed = (alias: string) => COLUMN_NAMES.map((name) => `${alias}.${name}`).join(', ');

/**
 * What expire's sweep reads of a candidate: only what decide and the pod check use. A sweep reads up
 * to a thousand rows, and each column costs parsing in the client (a timestamp most: a Date each).
 */
export type CandidateRow = Pick<
  ReservationRow,
  'reservation_id' | 'status' | 'expires_at' | 'launched_at' | 'status_changed_at' | 'pod_name' | 'namespace'
>;
export const CANDIDATE_COLUMNS =
  'reservation_id, status, expires_at, launched_at, status_changed_at, pod_name, namespace';

/** Active reservations past deadline + grace, most overdue first. */
export async function overdueReservations(
  db: Db,
  now: Date,
  graceSeconds: number,
  limit: number,
): Promise<CandidateRow[]> {
  const { rows } = await db.query<CandidateRow>(
    `select ${CANDIDATE_COLUMNS} from reservations
     where status = 'active' and expires_at < $1::timestamptz - make_interval(secs => $2)
     order by expires_at limit $3`,
    [now, graceSeconds, limit],
  );
  return rows;
}

/**
 * Active reservations that owe a warning now: deadline in (now, now + largest level], and the most
 * urgent level crossed not yet sent (nor a more urgent one) for the current deadline. Filtering on
 * the ledger here, not after the limit, keeps a busy horizon of already-warned reservations from
 * crowding out the ones that just crossed a level. The ledger holds deadlines as the run read them
 * (milliseconds), hence the truncation.
 */
export async function reservationsDueForWarning(
  db: Db,
  now: Date,
  levelsMinutes: readonly number[],
  limit: number,
): Promise<ReservationRow[]> {
  const { rows } = await db.query<ReservationRow>(
    `select ${prefixed('r')} from reservations r
     cross join lateral (
       select min(level) as level from unnest($2::int[]) as level
       where r.expires_at <= $1::timestamptz + make_interval(mins => level)) crossed
     where r.status = 'active' and r.expires_at > $1::timestamptz
       and r.expires_at <= $1::timestamptz + make_interval(mins => $3)
       and not exists (
         select 1 from warning_ledger l
         where l.reservation_id = r.reservation_id and l.expires_at = date_trunc('milliseconds', r.expires_at)
           and l.state in ('sent', 'sending') and l.level_minutes <= crossed.level)
     order by r.expires_at limit $4`,
    [now, levelsMinutes, Math.max(...levelsMinutes), limit],
  );
  return rows;
}

/** Active reservations without a deadline: skipped by every sweep, reported each run. */
export async function activeWithoutDeadline(db: Db, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ reservation_id: string }>(
    `select reservation_id from reservations where status = 'active' and expires_at is null order by reservation_id limit $1`,
    [limit],
  );
  return rows.map((row) => row.reservation_id);
}

/** preparing / queued / pending longer than allowed since they entered that state. */
export async function overdueWaiting(
  db: Db,
  now: Date,
  limits: { preparingMinutes: number; queueHours: number },
  limit: number,
): Promise<CandidateRow[]> {
  const { rows } = await db.query<CandidateRow>(
    `select ${CANDIDATE_COLUMNS} from reservations
     where (status = 'preparing' and status_changed_at < $1::timestamptz - make_interval(mins => $2))
        or (status in ('queued', 'pending') and status_changed_at < $1::timestamptz - make_interval(hours => $3))
     order by status_changed_at limit $4`,
    [now, limits.preparingMinutes, limits.queueHours, limit],
  );
  return rows;
}

/**
 * How many rows overdueReservations and overdueWaiting would return without their limit, each
 * counted up to `cap` over the same partial indexes: the true backlog when a run can take only part.
 */
export async function countOverdue(
  db: Db,
  now: Date,
  graceSeconds: number,
  limits: { preparingMinutes: number; queueHours: number },
  cap: number,
): Promise<{ active: number; waiting: number }> {
  const { rows } = await db.query<{ active: number; waiting: number }>(
    `select
       (select count(*)::int from (select 1 from reservations
          where status = 'active' and expires_at < $1::timestamptz - make_interval(secs => $2) limit $5) a) as active,
       (select count(*)::int from (select 1 from reservations
          where (status = 'preparing' and status_changed_at < $1::timestamptz - make_interval(mins => $3))
             or (status in ('queued', 'pending') and status_changed_at < $1::timestamptz - make_interval(hours => $4)) limit $5) w) as waiting`,
    [now, graceSeconds, limits.preparingMinutes, limits.queueHours, cap],
  );
  return rows[0]!;
}

export type EndStatus = 'expired' | 'failed' | 'cancelled';

export interface EndRequest {
  reservationId: string;
  from: string;
  to: EndStatus;
  reason: string;
  /** Compare-and-set on the deadline that was read (an extension in between wins). */
  expectedExpiresAt?: Date;
  /** Compare-and-set on when the row entered its state (a status bounce in between wins). */
  expectedStatusChangedAt?: Date;
  /** Write the reason to failure_reason (not for a plain deadline expiry). */
  recordReason: boolean;
  now: Date;
  /**
   * What the end's event announces of the row, as it was read: the end applies only while the row
   * still says so (a pod renamed or moved in between is another decision), so an event written in
   * the same statement never describes a row other than the one that ended.
   */
  announced?: Announced;
}

export interface Announced {
  podName: string | null;
  namespace: string | null;
  expiresAt: Date | null;
}

/** What each end is recorded as in the decision log (applied when its row changed, conflict when not). */
export interface EndDecision {
  action: string;
  inputs?: Record<string, unknown>;
}

export interface DecisionLogTarget {
  runId: string;
  fn: string;
  decidedAt: Date;
}

const END_SET = `
       status = q.to_status, status_changed_at = q.now, reservation_ended = coalesce(r.reservation_ended, q.now),
       failure_reason = case when q.record_reason then q.reason else r.failure_reason end,
       failed_at = case when q.to_status = 'failed' then q.now else r.failed_at end,
       cancelled_at = case when q.to_status = 'cancelled' then q.now else r.cancelled_at end,
       status_history = coalesce(r.status_history, '[]'::jsonb)
         || jsonb_build_array(jsonb_build_object('status', q.to_status, 'at', q.now, 'reason', q.reason, 'by', 'devenv-lifecycle'))`;
// The ids again as an array: the planner then reads the rows by primary key, knowing how many
// (it takes a function scan for 100 rows and would join a sequential scan of the whole table).
const endWhere = (ids: string) => `
     where r.reservation_id = q.reservation_id and r.reservation_id = any(${ids}::text[]) and r.status = q.from_status
       and (q.expected_expires_at is null or date_trunc('milliseconds', r.expires_at) = q.expected_expires_at)
       and (q.expected_status_changed_at is null or date_trunc('milliseconds', r.status_changed_at) = q.expected_status_changed_at)
       and (q.announced is not true or (r.pod_name is not distinct from q.pod_name and r.namespace is not distinct from q.namespace
            and date_trunc('milliseconds', r.expires_at) is not distinct from q.expires_at))`;
const END_RECORD = `jsonb_to_recordset($1::jsonb) as q(reservation_id text, from_status text, to_status text, reason text,
       expected_expires_at timestamptz, expected_status_changed_at timestamptz, record_reason boolean, now timestamptz,
       action text, inputs jsonb, announced boolean, pod_name text, namespace text, expires_at timestamptz)`;

/**
 * End many reservations in one statement, each under its own compare-and-set; returns the rows that
 * changed. Instants are compared at millisecond precision: the expected values were read into
 * JavaScript Dates, while rows written with now() carry microseconds and would never match exactly.
 */
export async function endReservations(db: Db, requests: EndRequest[]): Promise<ReservationRow[]> {
  if (requests.length === 0) return [];
  const { rows } = await db.query<ReservationRow>(
    `update reservations r set ${END_SET}
     from ${END_RECORD} ${endWhere('$2')}
     returning ${prefixed('r')}`,
    [JSON.stringify(requests.map((request) => toRecord(request))), requests.map((request) => request.reservationId)],
  );
  return rows;
}

/**
 * endReservations and, in the same statement, one decision-log entry per request (`applied` when its
 * row changed, `conflict` when the compare-and-set matched nothing: an extension or another runner
 * won) and the outbox rows of the ends that applied (`outbox`: records whose subject is the
 * reservation id). One round trip for a whole batch, whatever its size; answers the ids that ended.
 */
export async function endReservationsLogged(
  db: Db,
  requests: (EndRequest & EndDecision)[],
  log: DecisionLogTarget,
  outbox?: OutboxRecords,
): Promise<string[]> {
  if (requests.length === 0) return [];
  const { rows } = await db.query<{ reservation_id: string }>(
    `with q as (select * from ${END_RECORD}),
     ended as (
       update reservations r set ${END_SET}
       from q ${endWhere('$5')}
       returning r.reservation_id),
     logged as (
       insert into decision_log (decided_at, run_id, function, entity_kind, entity_id, action, reason, inputs, outcome)
       select $2, $3::uuid, $4, 'reservation', q.reservation_id, q.action, q.reason, coalesce(q.inputs, '{}'::jsonb),
              case when ended.reservation_id is null then 'conflict' else 'applied' end
       from q left join ended using (reservation_id)),
     staged as (${outboxInsertSql({ records: '$6', now: '$7', owner: '$8', until: '$9' }, 'join ended on ended.reservation_id = e.subject')})
     select reservation_id from ended`,
    [
      JSON.stringify(requests.map((request) => toRecord(request, request))),
      log.decidedAt,
      log.runId,
      log.fn,
      requests.map((request) => request.reservationId),
      outbox?.records ?? '[]',
      outbox?.now ?? log.decidedAt,
      outbox?.owner ?? null,
      outbox?.until ?? null,
    ],
  );
  return rows.map((row) => row.reservation_id);
}

function toRecord(request: EndRequest, decision?: EndDecision) {
  return {
    reservation_id: request.reservationId,
    from_status: request.from,
    to_status: request.to,
    reason: request.reason,
    expected_expires_at: request.expectedExpiresAt?.toISOString() ?? null,
    expected_status_changed_at: request.expectedStatusChangedAt?.toISOString() ?? null,
    record_reason: request.recordReason,
    now: request.now.toISOString(),
    action: decision?.action ?? null,
    inputs: decision?.inputs ?? null,
    announced: request.announced !== undefined,
    pod_name: request.announced?.podName ?? null,
    namespace: request.announced?.namespace ?? null,
    expires_at: request.announced?.expiresAt?.toISOString() ?? null,
  };
}

/** The active reservation a pod belongs to: by the reservation label when the pod has it, else by name. */
export async function activeReservationForPod(
  db: Db,
  pod: { reservationId?: string; namespace: string; podName: string },
  defaultNamespace: string,
): Promise<ReservationRow | undefined> {
  const { rows } = await db.query<ReservationRow>(
    `select ${COLUMNS} from reservations
     where status = 'active'
       and (reservation_id = $1 or ($1::text is null and pod_name = $2 and coalesce(namespace, $4) = $3))
     limit 2`,
    [pod.reservationId ?? null, pod.podName, pod.namespace, defaultNamespace],
  );
  // Two active reservations claiming one pod name is ambiguous: act on neither.
  return rows.length === 1 ? rows[0] : undefined;
}
