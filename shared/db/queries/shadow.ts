/*
 * What the shadow report reads: a function's shadow decisions in a window, each beside what the
 * system still in charge (the origin CronJob, the old watchdog) wrote about the same row, and the
 * rows that system acted on in the window on the function's ground. Its writes, per function:
 * expire — reservations.status (`expired`); ending-watchdog — labs.status; cleanup-pod — the disk
 * release (disks.in_use = false, reservation_id = NULL, last_used = now; pod and service deletions
 * leave no row); warn — reservations.warnings_sent and last_warning_time.
 */
import type { Db } from '../pool.js';

export interface ShadowWindow {
  fn: string;
  since: Date;
  until: Date;
}

export interface ShadowDecisionRow {
  entity_kind: 'reservation' | 'lab';
  entity_id: string;
  action: string;
  reason: string;
  inputs: Record<string, unknown>;
  first_decided_at: Date;
  last_decided_at: Date;
  decisions: number;
  /** The entity's status now, and since when; null when the row is gone. */
  status: string | null;
  status_changed_at: Date | null;
}

/** The function's destructive shadow decisions in the window, one row per entity (the latest decision's action). */
const DESTRUCTIVE_SHADOW = `
  select entity_kind, entity_id, min(decided_at) as first_decided_at, max(decided_at) as last_decided_at, count(*)::int as decisions,
         (array_agg(action order by decided_at desc, id desc))[1] as action,
         (array_agg(reason order by decided_at desc, id desc))[1] as reason,
         (array_agg(inputs order by decided_at desc, id desc))[1] as inputs
  from decision_log
  where outcome = 'shadow' and function = $1 and decided_at >= $2::timestamptz and decided_at <= $3::timestamptz
    and entity_kind in ('reservation', 'lab') and inputs ->> 'destructive' = 'true'
  group by entity_kind, entity_id`;

/** Destructive shadow decisions only: a shadow run's bookkeeping (observations) has no counterpart to compare. */
export async function shadowDecisions(db: Db, window: ShadowWindow): Promise<ShadowDecisionRow[]> {
  const { rows } = await db.query<ShadowDecisionRow>(
    `with shadow as (${DESTRUCTIVE_SHADOW})
     select s.*, coalesce(r.status, l.status) as status, coalesce(r.status_changed_at, l.status_changed_at) as status_changed_at
     from shadow s
     left join reservations r on s.entity_kind = 'reservation' and r.reservation_id = s.entity_id
     left join labs l on s.entity_kind = 'lab' and l.id::text = s.entity_id
     order by s.first_decided_at, s.entity_id`,
    [window.fn, window.since, window.until],
  );
  return rows;
}

/** When the function's first shadow run in the window started: the report compares from there. */
export async function firstShadowRun(db: Db, window: ShadowWindow): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `select min(started_at) as at from function_runs
     where function = $1 and started_at >= $2::timestamptz and started_at <= $3::timestamptz and counts ? 'shadow'`,
    [window.fn, window.since, window.until],
  );
  return rows[0]?.at ?? null;
}

/** Functions with shadow runs in the window. */
export async function shadowedFunctions(db: Db, since: Date, until: Date): Promise<string[]> {
  const { rows } = await db.query<{ function: string }>(
    `select distinct function from function_runs where started_at >= $1::timestamptz and started_at <= $2::timestamptz and counts ? 'shadow' order by function`,
    [since, until],
  );
  return rows.map((row) => row.function);
}

/** How many shadow decisions the function recorded in the window (for a function whose ground nothing records). */
export async function shadowDecisionCount(db: Db, window: ShadowWindow): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from decision_log
     where outcome = 'shadow' and function = $1 and decided_at >= $2::timestamptz and decided_at <= $3::timestamptz`,
    [window.fn, window.since, window.until],
  );
  return rows[0]?.n ?? 0;
}

export interface EndedRow {
  entity_kind: 'reservation' | 'lab';
  entity_id: string;
  status: string;
  status_changed_at: Date;
  /** What the function would have looked at: the expiry, or the time the lab entered ENDING. */
  basis_at: Date | null;
}

/**
 * Entities the system in charge ended in the window on the function's ground: reservations it
 * expired (expire), labs finished or failed after their ENDING outlasted the watchdog's limit
 * (ending-watchdog). The other functions' grounds have queries of their own below.
 */
export async function endedByOthers(
  db: Db,
  window: ShadowWindow,
  watchdogOlderThanMinutes: number,
): Promise<EndedRow[]> {
  if (window.fn === 'expire') {
    const { rows } = await db.query<EndedRow>(
      `select 'reservation' as entity_kind, reservation_id as entity_id, status, status_changed_at, expires_at as basis_at from reservations
       where status = 'expired' and status_changed_at >= $1::timestamptz and status_changed_at <= $2::timestamptz order by status_changed_at`,
      [window.since, window.until],
    );
    return rows;
  }
  if (window.fn === 'ending-watchdog') {
    const { rows } = await db.query<EndedRow>(
      `select 'lab' as entity_kind, id::text as entity_id, status, status_changed_at, ending_since as basis_at from labs
       where status in ('finished', 'failed') and ending_since is not null
         and status_changed_at >= $1::timestamptz and status_changed_at <= $2::timestamptz
         and status_changed_at - ending_since > make_interval(mins => $3)
       order by status_changed_at`,
      [window.since, window.until, watchdogOlderThanMinutes],
    );
    return rows;
  }
  return [];
}

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
