/*
 * What the shadow report reads: a function's shadow decisions in a window, each beside what the
 * system still in charge (the origin CronJob, the old watchdog) wrote about the same row, and the
 * rows that system acted on in the window on the function's ground. Its writes, per function:
 * expire — reservations.status (`expired`); ending-watchdog — labs.status; cleanup-pod — the disk
 * release (disks.in_use = false, reservation_id = NULL, last_used = now; pod and service deletions
 * leave no row); warn — reservations.warnings_sent and last_warning_time; oom-scan —
 * reservations.oom_count, last_oom_at and oom_container.
 */
import type { Db } from '../pool.js';
import { SHADOW_RECORD_AGAIN_HOURS } from './decisions.js';

export interface ShadowWindow {
  fn: string;
  since: Date;
  until: Date;
}

/**
 * The function's shadow decisions the report reads ($1 the function, $2 since, $3 until; alias l):
 * those recorded in the window, and before it as far back as the last record of a decision still
 * standing in the window can be: an unchanged decision is recorded again only every
 * SHADOW_RECORD_AGAIN_HOURS (decisions.ts), one hour more covers a run's schedule. So a decision
 * made days ago and made again all through the window is in it, with its first record of those
 * hours as the time we would have acted. Read through decision_log_shadow (0022).
 */
export const SHADOW_DECIDED = `l.outcome = 'shadow' and l.function = $1
  and l.decided_at >= $2::timestamptz - interval '${SHADOW_RECORD_AGAIN_HOURS + 1} hours' and l.decided_at <= $3::timestamptz`;

/** One entity's shadow decisions in a group: when first and last recorded, how many, and the latest. */
export interface DecisionSummary {
  action: string;
  reason: string;
  inputs: Record<string, unknown>;
  first_decided_at: Date;
  last_decided_at: Date;
  decisions: number;
}

export const DECISION_SUMMARY = `min(l.decided_at) as first_decided_at, max(l.decided_at) as last_decided_at,
  count(*)::int as decisions,
  (array_agg(l.action order by l.decided_at desc, l.id desc))[1] as action,
  (array_agg(l.reason order by l.decided_at desc, l.id desc))[1] as reason,
  (array_agg(l.inputs order by l.decided_at desc, l.id desc))[1] as inputs`;

export interface ShadowDecisionRow extends DecisionSummary {
  entity_kind: 'reservation' | 'lab';
  entity_id: string;
  /** The entity's status now, and since when; null when the row is gone. */
  status: string | null;
  status_changed_at: Date | null;
  /** The reason the origin wrote with a reservation's end (reservations.failure_reason); null for labs. */
  failure_reason?: string | null;
}

/**
 * Of the entities decided, those recorded in the window (alias s); the report's queries add those
 * decided before it whose row is not yet settled (a decision that may still stand) or that the
 * origin acted on in the window, and leave out the ones settled before it.
 */
export const STANDING = 's.last_decided_at >= $2::timestamptz';

/** A destructive shadow decision (alias l): a shadow run's bookkeeping (observations) has no counterpart to compare. */
export const DESTRUCTIVE = `l.entity_kind in ('reservation', 'lab') and l.inputs ->> 'destructive' = 'true'`;

/** The function's destructive shadow decisions, one row per entity (the latest decision's action). */
export const DESTRUCTIVE_SHADOW = `
  select l.entity_kind, l.entity_id, ${DECISION_SUMMARY}
  from decision_log l
  where ${SHADOW_DECIDED} and ${DESTRUCTIVE}
  group by l.entity_kind, l.entity_id`;

export async function shadowDecisions(db: Db, window: ShadowWindow): Promise<ShadowDecisionRow[]> {
  const { rows } = await db.query<ShadowDecisionRow>(
    `with shadow as (${DESTRUCTIVE_SHADOW})
     select s.*, coalesce(r.status, l.status) as status, coalesce(r.status_changed_at, l.status_changed_at) as status_changed_at,
            r.failure_reason
     from shadow s
     left join reservations r on s.entity_kind = 'reservation' and r.reservation_id = s.entity_id
     left join labs l on s.entity_kind = 'lab' and l.id::text = s.entity_id
     where ${STANDING} or coalesce(r.status, l.status) not in ('expired', 'cancelled', 'failed', 'finished')
        or coalesce(r.status_changed_at, l.status_changed_at) >= $2::timestamptz
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
  failure_reason?: string | null;
}

/**
 * Entities the system in charge ended in the window on the function's ground: reservations it
 * expired (expire), labs finished or failed after their ENDING outlasted the watchdog's limit
 * (ending-watchdog). The other functions' grounds have queries of their own (shadow-grounds.ts).
 */
export async function endedByOthers(
  db: Db,
  window: ShadowWindow,
  watchdogOlderThanMinutes: number,
): Promise<EndedRow[]> {
  if (window.fn === 'expire') {
    const { rows } = await db.query<EndedRow>(
      `select 'reservation' as entity_kind, reservation_id as entity_id, status, status_changed_at, expires_at as basis_at, failure_reason
       from reservations
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
