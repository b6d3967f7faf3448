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

/**
 * Each count stops at `cap` when given: the breaker needs only to know whether the fleet is large
 * enough for the run's actions, and at 100,000 reservations a full count costs as much as a batch.
 */
export async function fleetSize(db: Db, cap?: number): Promise<FleetSize> {
  const { rows } = await db.query<FleetSize>(
    `select (select count(*) from (select 1 from reservations where status = 'active' limit $1) r)::int as reservations,
            (select count(*) from (select 1 from labs where status not in ('finished', 'failed') limit $1) l)::int as labs`,
    [cap ?? null],
  );
  return rows[0]!;
}

/**
 * Destructive actions the function's runs took since `since` (their `destructive` counter). Runs
 * still in flight count what they will record only when they finish: the window is a guard
 * against a slow drip, the per-run check against a burst.
 */
export async function recentDestructive(db: Db, fn: string, since: Date): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select coalesce(sum((counts ->> 'destructive')::int), 0)::int as n from function_runs
     where function = $1 and started_at >= $2::timestamptz and counts ? 'destructive' and not dry_run`,
    [fn, since],
  );
  return rows[0]!.n;
}

export interface BreakerOverride {
  id: string;
  function: string;
  reason: string;
  created_by: string | null;
  created_at: Date;
  expires_at: Date;
}

/** The newest override of this function still in force at `now`, if any. */
export async function liveOverride(db: Db, fn: string, now: Date): Promise<BreakerOverride | undefined> {
  const { rows } = await db.query<BreakerOverride>(
    `select id::text, function, reason, created_by, created_at, expires_at from breaker_overrides
     where function = $1 and created_at <= $2::timestamptz and expires_at > $2::timestamptz
     order by expires_at desc limit 1`,
    [fn, now],
  );
  return rows[0];
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
