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
  /** A webhook is configured: the kill owes one webhook notice too. */
  webhook: boolean;
}

/** Returns the reservation's new oom_count, or undefined when this kill was already recorded. */
export async function recordOomKill(db: Db, kill: OomKillRecord, now: Date): Promise<number | undefined> {
  const { rows } = await db.query<{ oom_count: number }>(
    `with inserted as (
       insert into oom_kills (pod_uid, container, restart_count, reservation_id, pod_name, namespace, finished_at, detected_at, detected_by, webhook_state)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, case when $10 then 'pending' end)
       on conflict do nothing
       returning reservation_id, container, coalesce(finished_at, detected_at) as killed_at)
     update reservations r set oom_count = r.oom_count + 1,
       last_oom_at = greatest(r.last_oom_at, i.killed_at), oom_container = i.container
     from inserted i where r.reservation_id = i.reservation_id
     returning r.oom_count`,
    [
      kill.podUid,
      kill.container,
      kill.ordinal,
      kill.reservationId,
      kill.podName,
      kill.namespace,
      kill.finishedAt ?? null,
      now,
      kill.detectedBy,
      kill.webhook,
    ],
  );
  return rows[0]?.oom_count;
}

export interface ReservationPodRef {
  reservation_id: string;
  pod_name: string | null;
  namespace: string | null;
}

/** Active reservations matching pods by reservation id (label) or by pod name. */
export async function activeReservationsFor(
  db: Db,
  reservationIds: string[],
  podNames: string[],
): Promise<ReservationPodRef[]> {
  const { rows } = await db.query<ReservationPodRef>(
    `select reservation_id, pod_name, namespace from reservations
     where status = 'active' and (reservation_id = any($1::text[]) or pod_name = any($2::text[]))`,
    [reservationIds, podNames],
  );
  return rows;
}

export interface OomKillKey {
  podUid: string;
  container: string;
  ordinal: number;
}

/** The kills already recorded in these pods: one statement. */
export async function recordedOomKills(db: Db, podUids: readonly string[]): Promise<OomKillKey[]> {
  const { rows } = await db.query<{ pod_uid: string; container: string; restart_count: number }>(
    'select pod_uid, container, restart_count from oom_kills where pod_uid = any($1::text[])',
    [podUids],
  );
  return rows.map((row) => ({ podUid: row.pod_uid, container: row.container, ordinal: row.restart_count }));
}

export async function activeNamespaces(db: Db, defaultNamespace: string): Promise<string[]> {
  const { rows } = await db.query<{ namespace: string }>(
    `select distinct coalesce(namespace, $1) as namespace from reservations where status = 'active' and pod_name is not null`,
    [defaultNamespace],
  );
  return rows.map((row) => row.namespace);
}

/** Where the scan's next read begins: a namespace, and the continue token within it (none: its start). */
export interface ScanCursor {
  namespace: string;
  continueToken: string | undefined;
}

export async function loadScanCursor(db: Db): Promise<ScanCursor | undefined> {
  const { rows } = await db.query<{ namespace: string; continue_token: string | null }>(
    'select namespace, continue_token from oom_scan_cursor',
  );
  const row = rows[0];
  return row && { namespace: row.namespace, continueToken: row.continue_token ?? undefined };
}

/**
 * Moves the cursor; `passCompleted` when the scan has read every namespace to its end (the cursor
 * then points at the start of the next pass). One statement.
 */
export async function saveScanCursor(db: Db, cursor: ScanCursor, now: Date, passCompleted = false): Promise<void> {
  await db.query(
    `insert into oom_scan_cursor (namespace, continue_token, pass_started_at, passes_completed, updated_at)
     values ($1, $2, $3, case when $4 then 1 else 0 end, $3)
     on conflict (singleton) do update set namespace = excluded.namespace, continue_token = excluded.continue_token, updated_at = $3,
       passes_completed = oom_scan_cursor.passes_completed + case when $4 then 1 else 0 end,
       pass_started_at = case when $4 then $3 else oom_scan_cursor.pass_started_at end`,
    [cursor.namespace, cursor.continueToken ?? null, now, passCompleted],
  );
}

export interface PendingNotice {
  pod_uid: string;
  container: string;
  restart_count: number;
  reservation_id: string;
  pod_name: string;
  namespace: string;
  finished_at: Date | null;
  oom_count: number;
  /** Sends tried so far (0: never). */
  attempts: number;
  last_error: string | null;
}

/** The two ways a kill is told: the file in the pod, and the optional webhook. */
export type NoticeChannel = 'pod' | 'webhook';

// Column names per channel: constants, never input, so the statements stay fixed text.
const COLUMNS = {
  pod: { state: 'notice_state', attempts: 'notice_attempts', lease: 'notice_lease_until' },
  webhook: { state: 'webhook_state', attempts: 'webhook_attempts', lease: 'webhook_lease_until' },
} as const;

/**
 * Whether a notice may be claimed now: pending, or failed with attempts left, and not held. A pod
 * file whose claim outlived its lease (the run was killed between its send and its mark) is due
 * again: writing the file twice is harmless. A webhook claim is never taken over: the post may have
 * landed, and a person must not get it twice (shared/notices/claims.ts).
 */
function dueSql(channel: NoticeChannel, alias: string, maxAttempts: string, now: string): string {
  const c = COLUMNS[channel];
  const held =
    channel === 'pod' ? `(${alias}.${c.lease} is null or ${alias}.${c.lease} < ${now})` : `${alias}.${c.lease} is null`;
  return `${alias}.${c.state} in ('pending', 'failed') and ${alias}.${c.attempts} < ${maxAttempts} and ${held}`;
}

export interface DueNotices {
  now: Date;
  maxAttempts: number;
  limit: number;
  /** Only these pods' notices (an event run); every due notice when absent (the scan). */
  podUids?: string[];
}

/** Notices due on a channel, oldest kill first, for active reservations: a read, nothing claimed. */
export async function dueOomNotices(db: Db, channel: NoticeChannel, due: DueNotices): Promise<PendingNotice[]> {
  const c = COLUMNS[channel];
  // The webhook's rule does not depend on the time, so `now` is bound only for the pod file's.
  const { rows } = await db.query<PendingNotice>(
    `select k.pod_uid, k.container, k.restart_count, k.reservation_id, k.pod_name, k.namespace, k.finished_at, r.oom_count,
            k.${c.attempts} as attempts, k.last_error
     from oom_kills k join reservations r using (reservation_id)
     where ${dueSql(channel, 'k', '$1', '$4::timestamptz')} and r.status = 'active' and ($3::text[] is null or k.pod_uid = any($3::text[]))
     order by k.detected_at limit $2`,
    [due.maxAttempts, due.limit, due.podUids ?? null, ...(channel === 'pod' ? [due.now] : [])],
  );
  return rows;
}

export interface NoticeClaim {
  now: Date;
  leaseSeconds: number;
  maxAttempts: number;
}

/**
 * Claim these notices on a channel with a lease, counting the attempt, if they are still due: one
 * statement. Answers the ones won; a notice another run holds (or has sent) is not among them.
 */
export async function claimOomNotices(
  db: Db,
  channel: NoticeChannel,
  notices: readonly OomKillKey[],
  claim: NoticeClaim,
): Promise<OomKillKey[]> {
  const c = COLUMNS[channel];
  const { rows } = await db.query<{ pod_uid: string; container: string; restart_count: number }>(
    `update oom_kills k set ${c.attempts} = k.${c.attempts} + 1, ${c.lease} = $5::timestamptz + make_interval(secs => $6)
     from unnest($1::text[], $2::text[], $3::int[]) as wanted(pod_uid, container, restart_count)
     where k.pod_uid = wanted.pod_uid and k.container = wanted.container and k.restart_count = wanted.restart_count
       and ${dueSql(channel, 'k', '$4', '$5')}
     returning k.pod_uid, k.container, k.restart_count`,
    [
      notices.map((n) => n.podUid),
      notices.map((n) => n.container),
      notices.map((n) => n.ordinal),
      claim.maxAttempts,
      claim.now,
      claim.leaseSeconds,
    ],
  );
  return rows.map((row) => ({ podUid: row.pod_uid, container: row.container, ordinal: row.restart_count }));
}

/** Settles a claimed notice: sent, or failed with the error (released, so a later run retries it). */
export async function markOomNotice(
  db: Db,
  channel: NoticeChannel,
  notice: OomKillKey,
  sent: boolean,
  error?: string,
): Promise<void> {
  const c = COLUMNS[channel];
  await db.query(
    `update oom_kills set ${c.state} = case when $4 then 'sent' else 'failed' end, ${c.lease} = null, last_error = coalesce($5, last_error)
     where pod_uid = $1 and container = $2 and restart_count = $3`,
    [notice.podUid, notice.container, notice.ordinal, sent, error ?? null],
  );
}
