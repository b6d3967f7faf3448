/*
 * The shadow report's reads for the functions that do not end rows: what cleanup-pod, warn and
 * oom-scan decided in shadow, beside the columns the origin writes when it does the same (the disk
 * release; warnings_sent and last_warning_time; oom_count and last_oom_at), and the rows the origin
 * acted on in the window that no shadow decision of ours covers.
 */
import type { Db } from '../pool.js';
import { DECISION_SUMMARY, DESTRUCTIVE, DESTRUCTIVE_SHADOW, SHADOW_DECIDED, STANDING } from './shadow.js';
import type { DecisionSummary, ShadowDecisionRow, ShadowWindow } from './shadow.js';

/** A teardown cleanup-pod decided in shadow, with the disk it would have released as that disk is now. */
export interface TeardownDecisionRow extends ShadowDecisionRow {
  /** The disk the reservation held or names (user and disk name, the origin's key); null: none. */
  disk_id: string | null;
  disk_in_use: boolean | null;
  /** The disk's holder now: the reservation itself (not released), another, or null (released). */
  disk_holder: string | null;
  /** The origin's free sets last_used to its time. */
  disk_last_used: Date | null;
}

export async function teardownDecisions(db: Db, window: ShadowWindow): Promise<TeardownDecisionRow[]> {
  const { rows } = await db.query<TeardownDecisionRow>(
    `with shadow as (${DESTRUCTIVE_SHADOW})
     select s.*, r.status, r.status_changed_at,
            d.disk_id::text as disk_id, d.in_use as disk_in_use, d.reservation_id as disk_holder, d.last_used as disk_last_used
     from shadow s
     left join reservations r on r.reservation_id = s.entity_id
     left join lateral (
       select disk_id, in_use, reservation_id, last_used from disks
       where reservation_id = s.entity_id or (user_id = r.user_id and disk_name = r.disk_name)
       order by reservation_id is not distinct from s.entity_id desc
       limit 1) d on true
     where s.entity_kind = 'reservation'
       and (${STANDING} or d.reservation_id = s.entity_id or d.last_used >= $2::timestamptz)
     order by s.first_decided_at, s.entity_id`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

export interface ReleasedDiskRow {
  disk_id: string;
  last_used: Date;
  /** A live (active) reservation of the same user naming this disk: a release it should have survived. */
  live_reservation: string | null;
}

/**
 * Disks the system in charge released in the window (in_use false, no holder, last_used in the
 * window: disks_released_last_used, 0030) that no teardown of ours covers, or that a live
 * reservation still names (origin bug A-4). A teardown covers a disk when its reservation names it.
 */
export async function disksReleasedByOthers(db: Db, window: ShadowWindow): Promise<ReleasedDiskRow[]> {
  const { rows } = await db.query<ReleasedDiskRow>(
    `select d.disk_id::text as disk_id, d.last_used, live.reservation_id as live_reservation
     from disks d
     left join lateral (
       select reservation_id from reservations r
       where r.user_id = d.user_id and r.disk_name = d.disk_name and r.status = 'active'
       order by r.status_changed_at desc limit 1) live on true
     where not d.in_use and d.reservation_id is null
       and d.last_used >= $2::timestamptz and d.last_used <= $3::timestamptz
       and (live.reservation_id is not null or not exists (
         select 1 from reservations r cross join lateral (
           select 1 from decision_log l
           where l.entity_id = r.reservation_id and l.entity_kind = 'reservation' and ${SHADOW_DECIDED} and ${DESTRUCTIVE}
           limit 1) covered
         where r.user_id = d.user_id and r.disk_name = d.disk_name))
     order by d.last_used, d.disk_id`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

/** The origin's record of a reservation's warnings: flags per level, and the time of its last warning. */
export interface OriginWarningColumns {
  expires_at: Date | null;
  warnings_sent: Record<string, unknown> | null;
  /** reservations.last_warning_time (unix seconds) as an instant. */
  last_warned_at: Date | null;
}

/** Warnings warn decided in shadow, one row per reservation and deadline, beside the origin's columns. */
export interface WarnDecisionRow extends OriginWarningColumns, Omit<DecisionSummary, 'action'> {
  entity_id: string;
  deadline: string;
  levels: number[];
  status: string | null;
}

export async function warnDecisions(db: Db, window: ShadowWindow): Promise<WarnDecisionRow[]> {
  const { rows } = await db.query<WarnDecisionRow>(
    `with shadow as (
       select l.entity_id, l.inputs ->> 'expiresAt' as deadline, ${DECISION_SUMMARY},
              array_agg(distinct (l.inputs ->> 'levelMinutes')::int) as levels
       from decision_log l
       where ${SHADOW_DECIDED} and l.entity_kind = 'reservation' and l.action = 'warn' and l.inputs ? 'expiresAt'
       group by l.entity_id, l.inputs ->> 'expiresAt')
     select s.*, r.status, r.expires_at, r.warnings_sent, to_timestamp(r.last_warning_time) as last_warned_at
     from shadow s left join reservations r on r.reservation_id = s.entity_id
     where ${STANDING} or s.deadline::timestamptz >= $2::timestamptz
     order by s.first_decided_at, s.entity_id, s.deadline`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

export interface WarnedRow extends OriginWarningColumns {
  entity_id: string;
  status: string;
}

/**
 * Reservations the system in charge acted on in the window that no shadow decision of ours with
 * `action` covers: `acted` says where, over reservations r ($2 since, $3 until), through an index of
 * 0030. `columns` are the origin's columns to show beside the status.
 */
async function actedOnByOthers<T>(
  db: Db,
  window: ShadowWindow,
  query: { columns: string; acted: string; order: string; action: string },
): Promise<T[]> {
  const { rows } = await db.query<T & Record<string, unknown>>(
    `select r.reservation_id as entity_id, r.status, ${query.columns}
     from reservations r
     where ${query.acted}
       and not exists (
         select 1 from decision_log l
         where ${SHADOW_DECIDED} and l.entity_kind = 'reservation' and l.entity_id = r.reservation_id and l.action = $4)
     order by ${query.order}, r.reservation_id`,
    [window.fn, window.since, window.until, query.action],
  );
  return rows;
}

/** Reservations the system in charge warned in the window (last_warning_time) that warn never decided to warn. */
export function warnedByOthers(db: Db, window: ShadowWindow): Promise<WarnedRow[]> {
  return actedOnByOthers<WarnedRow>(db, window, {
    columns: 'r.expires_at, r.warnings_sent, to_timestamp(r.last_warning_time) as last_warned_at',
    // Whole seconds, as the column holds them: comparing the bigint with a numeric would not use its index.
    acted:
      'r.last_warning_time >= ceil(extract(epoch from $2::timestamptz))::bigint and r.last_warning_time <= floor(extract(epoch from $3::timestamptz))::bigint',
    order: 'r.last_warning_time',
    action: 'warn',
  });
}

/** The origin's record of a reservation's OOM kills: the count, and the finish time of the last one it saw. */
export interface OriginOomColumns {
  oom_count: number | null;
  last_oom_at: Date | null;
  oom_container: string | null;
}

/** The kills oom-scan decided in shadow to record, one row per reservation, beside the origin's columns. */
export interface OomDecisionRow extends OriginOomColumns, DecisionSummary {
  entity_id: string;
  /** Distinct kills (pod, container, termination) we would have recorded. */
  kills: number;
  /** The latest of their finish times; null when none was known. */
  latest_finished_at: Date | null;
  status: string | null;
}

export async function oomDecisions(db: Db, window: ShadowWindow): Promise<OomDecisionRow[]> {
  const { rows } = await db.query<OomDecisionRow>(
    `with shadow as (
       select l.entity_id, ${DECISION_SUMMARY},
              count(distinct concat_ws('/', l.inputs ->> 'podUid', l.inputs ->> 'container', l.inputs ->> 'ordinal'))::int as kills,
              max((l.inputs ->> 'finishedAt')::timestamptz) as latest_finished_at
       from decision_log l
       where ${SHADOW_DECIDED} and l.entity_kind = 'reservation' and l.action = 'record-kill'
       group by l.entity_id)
     select s.*, r.status, r.oom_count, r.last_oom_at, r.oom_container
     from shadow s left join reservations r on r.reservation_id = s.entity_id
     where ${STANDING} or r.last_oom_at is null or r.last_oom_at >= $2::timestamptz or r.last_oom_at < s.latest_finished_at
     order by s.first_decided_at, s.entity_id`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

export interface OomRecordedRow extends OriginOomColumns {
  entity_id: string;
  status: string;
}

/** Reservations whose last_oom_at the origin set in the window that oom-scan never decided to record a kill for. */
export function oomRecordedByOthers(db: Db, window: ShadowWindow): Promise<OomRecordedRow[]> {
  return actedOnByOthers<OomRecordedRow>(db, window, {
    columns: 'r.oom_count, r.last_oom_at, r.oom_container',
    acted: 'r.last_oom_at >= $2::timestamptz and r.last_oom_at <= $3::timestamptz',
    order: 'r.last_oom_at',
    action: 'record-kill',
  });
}
