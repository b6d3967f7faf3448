/*
 * Clock sanity: a function whose clock disagrees with the database's would end reservations early
 * (a clock ahead) or compare against a past that never was. The skew is measured once, at the start
 * of a run; past the limit the run refuses every destructive action.
 */
import { databaseNow } from '../../db/queries/breaker.js';
import type { Db } from '../../db/pool.js';
import type { RailsSettings } from './settings.js';

export interface ClockReading {
  /** The function's clock minus the database's, in seconds (positive: the function is ahead). */
  skewSeconds: number;
  functionNow: Date;
  databaseNow: Date;
}

/**
 * The database's time is taken between two readings of the function's clock and compared with
 * their midpoint, so the round trip itself is never mistaken for skew. A run takes it with the
 * statement that opens its row (run-scope.ts); a scope without that reading reads it here.
 */
export async function readClock(db: Db, now: () => Date): Promise<ClockReading> {
  const before = now();
  const database = await databaseNow(db);
  return clockReading(before, database, now());
}

/** The reading from the function's clock before and after a statement, and the database's now() in it. */
export function clockReading(before: Date, database: Date, after: Date): ClockReading {
  const functionNow = new Date((before.getTime() + after.getTime()) / 2);
  return { skewSeconds: (functionNow.getTime() - database.getTime()) / 1000, functionNow, databaseNow: database };
}

/** CLOCK_SKEW_MAX_SECONDS=0: the rail is off (set explicitly by harnesses that keep their own time). */
export function clockRailOn(settings: Pick<RailsSettings, 'clockSkewMaxSeconds'>): boolean {
  return settings.clockSkewMaxSeconds > 0;
}

export function clockRefuses(reading: ClockReading, maxSkewSeconds: number): boolean {
  return Math.abs(reading.skewSeconds) > maxSkewSeconds;
}

export function clockEvidence(reading: ClockReading, maxSkewSeconds: number) {
  return {
    functionNow: reading.functionNow.toISOString(),
    databaseNow: reading.databaseNow.toISOString(),
    skewSeconds: Math.round(reading.skewSeconds * 1000) / 1000,
    maxSkewSeconds,
  };
}
