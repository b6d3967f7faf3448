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
 * their midpoint, so the round trip itself is never mistaken for skew.
 */
export async function readClock(db: Db, now: () => Date): Promise<ClockReading> {
  const before = now().getTime();
  const database = await databaseNow(db);
  const after = now().getTime();
  const functionNow = new Date((before + after) / 2);
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
