/*
 * What expire last learned about each active reservation's pod. The health check rotates through
 * active reservations oldest-checked first, a bounded slice per run; every active reservation has
 * a row (a trigger adds it, never checked, when the reservation becomes active).
 */
import type { Db } from '../pool.js';
import { CANDIDATE_COLUMNS } from './reservations.js';
import type { CandidateRow } from './reservations.js';

export interface CheckCandidate extends CandidateRow {
  absent_since: Date | null;
}

/**
 * The next batch of the rotation: an index range read, whatever the size of the fleet (see 0005).
 * A row the check cannot take (no pod name, no deadline) is left out here: handed out, it would never
 * be marked checked and would hold the head of the rotation for good.
 */
export async function reservationsToCheck(db: Db, limit: number): Promise<CheckCandidate[]> {
  const { rows } = await db.query<CheckCandidate>(
    `select ${CANDIDATE_COLUMNS}, o.absent_since
     from pod_observations o join reservations r using (reservation_id)
     where r.status = 'active' and r.pod_name is not null and r.expires_at is not null
     order by o.checked_at nulls first, o.reservation_id
     limit $1`,
    [limit],
  );
  return rows;
}

export type ObservationKind = 'present' | 'absent' | 'unknown';

export interface Observation {
  reservationId: string;
  kind: ObservationKind;
  error?: string;
}

/**
 * Record one run's observations: `absent` keeps the first absence time, `present` clears it,
 * `unknown` (an API error) changes nothing but the error, so it neither confirms nor resets.
 */
export async function recordObservations(db: Db, observations: Observation[], now: Date): Promise<void> {
  if (observations.length === 0) return;
  // On conflict, `excluded` tells the kinds apart: absent carries absent_since, unknown carries
  // an error, present carries neither.
  await db.query(
    `insert into pod_observations (reservation_id, checked_at, absent_since, last_error)
     select o.reservation_id, $2, case when o.kind = 'absent' then $2::timestamptz end,
            case when o.kind = 'unknown' then coalesce(o.error, 'unknown') end
     from jsonb_to_recordset($1::jsonb) as o(reservation_id text, kind text, error text)
     join reservations r using (reservation_id)
     on conflict (reservation_id) do update set
       checked_at = excluded.checked_at,
       absent_since = case
         when excluded.absent_since is not null then coalesce(pod_observations.absent_since, excluded.absent_since)
         when excluded.last_error is not null then pod_observations.absent_since
         else null end,
       last_error = excluded.last_error`,
    [
      JSON.stringify(
        observations.map((o) => ({ reservation_id: o.reservationId, kind: o.kind, error: o.error ?? null })),
      ),
      now,
    ],
  );
}

export async function absentSinceFor(db: Db, reservationIds: string[]): Promise<Map<string, Date>> {
  const { rows } = await db.query<{ reservation_id: string; absent_since: Date }>(
    'select reservation_id, absent_since from pod_observations where reservation_id = any($1::text[]) and absent_since is not null',
    [reservationIds],
  );
  return new Map(rows.map((row) => [row.reservation_id, row.absent_since]));
}
