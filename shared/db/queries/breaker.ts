/*
 * What the safety rails read and write: the database's clock, the live fleet, the destructive
 * actions of a function's recent runs, and operators' breaker overrides.
 */
import type { Db } from '../pool.js';

/** The database's own clock, to compare with the function's. */
export async function databaseNow(db: Db): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('select now() as now');
  return rows[0]!.now;
}

export interface FleetSize {
  /** Reservations in `active`. */
  reservations: number;
  /** Labs not yet finished or failed. */
  labs: number;
}

export interface BreakerOverride {
  id: string;
  function: string;
  reason: string;
  created_by: string | null;
  created_at: Date;
  expires_at: Date;
}

export interface BreakerQuestion {
  fn: string;
  /** The window's start. */
  since: Date;
  now: Date;
  /** Destructive actions of this run: decided now, and taken by its earlier stages. */
  destructive: number;
  earlier: number;
  minActions: number;
  fleetPercent: number;
}

export interface BreakerReads {
  /** Destructive actions the function's runs took in the window, this run's earlier stages included. */
  recent: number;
  /** Zero when the run's actions stay within the minimum (the fleet does not matter then). */
  fleet: FleetSize;
  /** The newest override of this function in force at `now`, if any. */
  override?: BreakerOverride;
}

/**
 * What the breaker weighs, in one round trip. Destructive actions of the window count from the
 * runs' `destructive` counter; runs still in flight count what they will record only when they
 * finish: the window is a guard against a slow drip, the per-run check against a burst. The fleet
 * is read only past the minimum, and each count stops at the size whose share covers the run: at
 * 100,000 reservations a full count costs as much as a batch (a fleet at the cap reports the cap).
 */
export async function breakerReads(db: Db, question: BreakerQuestion): Promise<BreakerReads> {
  const { rows } = await db.query<{
    recent: number;
    reservations: number;
    labs: number;
    override: BreakerOverride | null;
  }>(
    `with recent as materialized (
       select coalesce(sum((counts ->> 'destructive')::int), 0)::int + $4::int as n from function_runs
       where function = $1 and started_at >= $2::timestamptz and counts ? 'destructive' and not dry_run),
     need as materialized (
       select case when $5::int + n <= $6::int then 0 else ceil(($5::int + n) * 100.0 / $7::numeric)::int end as cap
       from recent)
     select (select n from recent) as recent,
            (select count(*) from (select 1 from reservations where status = 'active' limit (select cap from need)) r)::int
              as reservations,
            (select count(*) from (select 1 from labs where status not in ('finished', 'failed') limit (select cap from need)) l)::int
              as labs,
            (select json_build_object('id', id::text, 'function', function, 'reason', reason, 'created_by', created_by,
                                      'created_at', created_at, 'expires_at', expires_at)
             from breaker_overrides
             where function = $1 and created_at <= $3::timestamptz and expires_at > $3::timestamptz
             order by expires_at desc limit 1) as override`,
    [
      question.fn,
      question.since,
      question.now,
      question.earlier,
      question.destructive,
      question.minActions,
      question.fleetPercent,
    ],
  );
  const row = rows[0]!;
  const override = row.override
    ? { ...row.override, created_at: new Date(row.override.created_at), expires_at: new Date(row.override.expires_at) }
    : undefined;
  return {
    recent: row.recent,
    fleet: { reservations: row.reservations, labs: row.labs },
    ...(override ? { override } : {}),
  };
}

export interface NewOverride {
  fn: string;
  reason: string;
  createdBy?: string;
  createdAt: Date;
  expiresAt: Date;
}

export async function insertOverride(db: Db, override: NewOverride): Promise<BreakerOverride> {
  const { rows } = await db.query<BreakerOverride>(
    `insert into breaker_overrides (function, reason, created_by, created_at, expires_at) values ($1, $2, $3, $4, $5)
     returning id::text, function, reason, created_by, created_at, expires_at`,
    [override.fn, override.reason, override.createdBy ?? null, override.createdAt, override.expiresAt],
  );
  return rows[0]!;
}
