/*
 * Scheduled runs of one function never overlap (neither cron-connector nor PingSource guarantees
 * that). A session advisory lock per function is held on one dedicated connection for the run; a
 * second tick that cannot take it is told to skip. If the connection dies, PostgreSQL releases
 * the lock; every state change is a compare-and-set anyway, so an overlap is safe, only wasteful.
 * A run takes and releases the lock in statements that do its bookkeeping too (openRun and
 * finishRun in queries/runs.ts, on the connection `withHeldConnection` gives it).
 */
import type pg from 'pg';
import type { AdvisoryKey } from './queries/runs.js';

// The first half of the two-part advisory key: keeps our locks apart from anyone else's.
const SINGLE_FLIGHT_NAMESPACE = 7_326_002;

/** The key of a function's single-flight lock. */
export function singleFlightKey(name: string): AdvisoryKey {
  return { namespace: SINGLE_FLIGHT_NAMESPACE, name };
}

/**
 * One connection for `work`, released at the end; destroyed instead when `work` says it is broken
 * (a session whose lock could not be released must not go back to the pool: closing it releases the lock).
 */
export async function withHeldConnection<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, broken: () => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let healthy = true;
  try {
    return await work(client, () => (healthy = false));
  } finally {
    client.release(!healthy);
  }
}

export type SingleFlightResult<T> = { ran: true; value: T } | { ran: false };

export async function withSingleFlight<T>(
  pool: pg.Pool,
  name: string,
  work: () => Promise<T>,
): Promise<SingleFlightResult<T>> {
  const client = await pool.connect();
  let healthy = true;
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1, hashtext($2)) as locked',
      [SINGLE_FLIGHT_NAMESPACE, name],
    );
    if (!rows[0]?.locked) return { ran: false };
    try {
      return { ran: true, value: await work() };
    } finally {
      healthy = await unlock(client, name);
    }
  } finally {
    client.release(!healthy);
  }
}

async function unlock(client: pg.PoolClient, name: string): Promise<boolean> {
  try {
    await client.query('select pg_advisory_unlock($1, hashtext($2))', [SINGLE_FLIGHT_NAMESPACE, name]);
    return true;
  } catch {
    // The session is gone (and its lock with it); do not return the connection to the pool.
    return false;
  }
}
