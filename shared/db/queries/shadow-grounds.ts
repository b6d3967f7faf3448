/*
 * The shadow report's reads for the functions that do not end rows: what cleanup-pod, warn and
 * oom-scan decided in shadow, beside the columns the origin writes when it does the same (the disk
 * release; warnings_sent and last_warning_time; oom_count and last_oom_at), and the rows the origin
 * acted on in the window that no shadow decision of ours covers.
 */
import type { Db } from '../pool.js';
import { DESTRUCTIVE_SHADOW } from './shadow.js';
import type { ShadowDecisionRow, ShadowWindow } from './shadow.js';

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
 * window) that no teardown of ours covers, or that a live reservation still names (origin bug A-4).
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
         select 1 from decision_log l join reservations r on r.reservation_id = l.entity_id
         where l.outcome = 'shadow' and l.function = $1 and l.decided_at >= $2::timestamptz and l.decided_at <= $3::timestamptz
           and l.entity_kind = 'reservation' and l.inputs ->> 'destructive' = 'true'
           and r.user_id = d.user_id and r.disk_name = d.disk_name))
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
export interface WarnDecisionRow extends OriginWarningColumns {
  entity_id: string;
  deadline: string;
  levels: number[];
  reason: string;
  inputs: Record<string, unknown>;
  first_decided_at: Date;
  last_decided_at: Date;
  decisions: number;
  status: string | null;
}

export async function warnDecisions(db: Db, window: ShadowWindow): Promise<WarnDecisionRow[]> {
  const { rows } = await db.query<WarnDecisionRow>(
    `with shadow as (
       select entity_id, inputs ->> 'expiresAt' as deadline,
              min(decided_at) as first_decided_at, max(decided_at) as last_decided_at, count(*)::int as decisions,
              array_agg(distinct (inputs ->> 'levelMinutes')::int) as levels,
              (array_agg(reason order by decided_at desc, id desc))[1] as reason,
              (array_agg(inputs order by decided_at desc, id desc))[1] as inputs
       from decision_log
       where outcome = 'shadow' and function = $1 and decided_at >= $2::timestamptz and decided_at <= $3::timestamptz
         and entity_kind = 'reservation' and action = 'warn' and inputs ? 'expiresAt'
       group by entity_id, inputs ->> 'expiresAt')
     select s.*, r.status, r.expires_at, r.warnings_sent, to_timestamp(r.last_warning_time) as last_warned_at
     from shadow s left join reservations r on r.reservation_id = s.entity_id
     order by s.first_decided_at, s.entity_id, s.deadline`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

export interface WarnedRow extends OriginWarningColumns {
  entity_id: string;
  status: string;
}

/** Reservations the system in charge warned in the window (last_warning_time) that warn never decided to warn. */
export async function warnedByOthers(db: Db, window: ShadowWindow): Promise<WarnedRow[]> {
  const { rows } = await db.query<WarnedRow>(
    `select r.reservation_id as entity_id, r.status, r.expires_at, r.warnings_sent, to_timestamp(r.last_warning_time) as last_warned_at
     from reservations r
     where r.last_warning_time >= extract(epoch from $2::timestamptz) and r.last_warning_time <= extract(epoch from $3::timestamptz)
       and not exists (
         select 1 from decision_log l
         where l.outcome = 'shadow' and l.function = $1 and l.decided_at >= $2::timestamptz and l.decided_at <= $3::timestamptz
           and l.entity_kind = 'reservation' and l.entity_id = r.reservation_id and l.action = 'warn')
     order by r.last_warning_time, r.reservation_id`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

/** The origin's record of a reservation's OOM kills: the count, and the finish time of the last one it saw. */
export interface OriginOomColumns {
  oom_count: number | null;
  last_oom_at: Date | null;
  oom_container: string | null;
}

/** The kills oom-scan decided in shadow to record, one row per reservation, beside the origin's columns. */
export interface OomDecisionRow extends OriginOomColumns {
  entity_id: string;
  action: string;
  reason: string;
  inputs: Record<string, unknown>;
  first_decided_at: Date;
  last_decided_at: Date;
  decisions: number;
  /** Distinct kills (pod, container, termination) we would have recorded. */
  kills: number;
  /** The latest of their finish times; null when none was known. */
  latest_finished_at: Date | null;
  status: string | null;
}

export async function oomDecisions(db: Db, window: ShadowWindow): Promise<OomDecisionRow[]> {
  const { rows } = await db.query<OomDecisionRow>(
    `with shadow as (
       select entity_id, min(decided_at) as first_decided_at, max(decided_at) as last_decided_at, count(*)::int as decisions,
              count(distinct concat_ws('/', inputs ->> 'podUid', inputs ->> 'container', inputs ->> 'ordinal'))::int as kills,
              max((inputs ->> 'finishedAt')::timestamptz) as latest_finished_at,
              (array_agg(action order by decided_at desc, id desc))[1] as action,
              (array_agg(reason order by decided_at desc, id desc))[1] as reason,
              (array_agg(inputs order by decided_at desc, id desc))[1] as inputs
       from decision_log
       where outcome = 'shadow' and function = $1 and decided_at >= $2::timestamptz and decided_at <= $3::timestamptz
         and entity_kind = 'reservation' and action = 'record-kill'
       group by entity_id)
     select s.*, r.status, r.oom_count, r.last_oom_at, r.oom_container
     from shadow s left join reservations r on r.reservation_id = s.entity_id
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
export async function oomRecordedByOthers(db: Db, window: ShadowWindow): Promise<OomRecordedRow[]> {
  const { rows } = await db.query<OomRecordedRow>(
    `select r.reservation_id as entity_id, r.status, r.oom_count, r.last_oom_at, r.oom_container
     from reservations r
     where r.last_oom_at >= $2::timestamptz and r.last_oom_at <= $3::timestamptz
       and not exists (
         select 1 from decision_log l
         where l.outcome = 'shadow' and l.function = $1 and l.decided_at >= $2::timestamptz and l.decided_at <= $3::timestamptz
           and l.entity_kind = 'reservation' and l.entity_id = r.reservation_id and l.action = 'record-kill')
     order by r.last_oom_at, r.reservation_id`,
    [window.fn, window.since, window.until],
  );
  return rows;
}
