/*
 * OOM kills, each recorded once. The kill row and the reservation's counter change in one
 * statement, so the count can neither skip nor double (origin bug A-15 read-modified-wrote it).
 */
import type { Db } from '../pool.js';

export interface OomKillRecord {
  podUid: string;
  container: string;
  ordinal: number;
  reservationId: string;
  podName: string;
  namespace: string;
  finishedAt: Date | undefined;
  detectedBy: 'event' | 'scan';
}

/** Returns the reservation's new oom_count, or undefined when this kill was already recorded. */
export async function recordOomKill(db: Db, kill: OomKillRecord, now: Date): Promise<number | undefined> {
  const { rows } = await db.query<{ oom_count: number }>(
    `with inserted as (
       insert into oom_kills (pod_uid, container, restart_count, reservation_id, pod_name, namespace, finished_at, detected_at, detected_by)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict do nothing
       returning reservation_id, container, coalesce(finished_at, detected_at) as killed_at)
     update reservations r set oom_count = r.oom_count + 1,
       last_oom_at = greatest(r.last_oom_at, i.killed_at), oom_container = i.container
     from inserted i where r.reservation_id = i.reservation_id
     returning r.oom_count`,
    [kill.podUid, kill.container, kill.ordinal, kill.reservationId, kill.podName, kill.namespace, kill.finishedAt ?? null, now, kill.detectedBy],
  );
  return rows[0]?.oom_count;
}

export interface ReservationPodRef {
  reservation_id: string;
  pod_name: string | null;
  namespace: string | null;
}

/** Active reservations matching pods by reservation id (label) or by pod name. */
export async function activeReservationsFor(db: Db, reservationIds: string[], podNames: string[]): Promise<ReservationPodRef[]> {
  const { rows } = await db.query<ReservationPodRef>(
    `select reservation_id, pod_name, namespace from reservations
     where status = 'active' and (reservation_id = any($1::text[]) or pod_name = any($2::text[]))`,
    [reservationIds, podNames],
  );
  return rows;
}

export async function activeNamespaces(db: Db, defaultNamespace: string): Promise<string[]> {
  const { rows } = await db.query<{ namespace: string }>(
    `select distinct coalesce(namespace, $1) as namespace from reservations where status = 'active' and pod_name is not null`,
    [defaultNamespace],
  );
  return rows.map((row) => row.namespace);
}

export interface PendingNotice {
  pod_uid: string;
  container: string;
  restart_count: number;
  pod_name: string;
  namespace: string;
  finished_at: Date | null;
  oom_count: number;
}

export async function pendingOomNotices(db: Db, maxAttempts: number, limit: number): Promise<PendingNotice[]> {
  const { rows } = await db.query<PendingNotice>(
    `select k.pod_uid, k.container, k.restart_count, k.pod_name, k.namespace, k.finished_at, r.oom_count
     from oom_kills k join reservations r using (reservation_id)
     where k.notice_state in ('pending', 'failed') and k.notice_attempts < $1 and r.status = 'active'
     order by k.detected_at limit $2`,
    [maxAttempts, limit],
  );
  return rows;
}

export async function markOomNotice(db: Db, notice: PendingNotice, sent: boolean, error?: string): Promise<void> {
  await db.query(
    `update oom_kills set notice_state = case when $4 then 'sent' else 'failed' end, notice_attempts = notice_attempts + 1, last_error = $5
     where pod_uid = $1 and container = $2 and restart_count = $3`,
    [notice.pod_uid, notice.container, notice.restart_count, sent, error ?? null],
  );
}
