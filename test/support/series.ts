/*
 * A fleet of active reservations in one statement, for benchmarks at 1,000 to 100,000 rows where
 * one insert per row would be the benchmark. Row i is `bench-<i, 7 digits>` with the pod name
 * `gpu-dev-bench-<i>` in gpu-dev, created three hours before `now`; its deadline is `expiresAt`, a
 * SQL expression over i, $1 (now) and $3 (due).
 */
import type { Db } from '../../shared/db/pool.js';

export const seriesId = (i: number) => `bench-${String(i).padStart(7, '0')}`;

/** Deadlines hours ahead for the rows past the due ones, spread so no two minutes pile up. */
export const FAR_OFF = `$1::timestamptz + interval '2 hours' + (i % 10000) * interval '1 minute'`;

export async function insertReservationSeries(
  db: Db,
  options: { now: Date; count: number; due: number; expiresAt: string },
): Promise<void> {
  await db.query(
    `insert into reservations (reservation_id, user_id, status, created_at, launched_at, status_changed_at, expires_at, pod_name, namespace)
     select 'bench-' || lpad(i::text, 7, '0'), 'user-' || (i % 5000), 'active', $1::timestamptz - interval '3 hours',
            $1::timestamptz - interval '3 hours', $1::timestamptz - interval '3 hours', ${options.expiresAt},
            'gpu-dev-bench-' || lpad(i::text, 7, '0'), 'gpu-dev'
     from generate_series(0, $2 - 1) as i`,
    [options.now, options.count, options.due],
  );
}
