/*
 * Labs for the ENDING watchdog. Claims are committed leases (origin bug B-1 held row locks while
 * working and deadlocked itself); every final write is a compare-and-set on status = 'ending' and
 * the lease holder (B-5), and releases the lab's noVNC port by lab id (B-2).
 */
import type { Db } from '../pool.js';

export interface LabRow {
  id: string;
  owner_id: string;
  ending_since: Date | null;
  namespace: string | null;
}

export interface EndingQuery {
  labId?: string;
  olderThan: Date;
  limit: number;
}

/**
 * Labs in ENDING: one by id, or those in ENDING since before `olderThan`: never-tried and least
 * recently tried first (a lab whose teardown keeps failing to verify must not starve the others),
 * then oldest first.
 */
export async function endingLabs(db: Db, query: EndingQuery): Promise<LabRow[]> {
  const { rows } = await db.query<LabRow>(
    `select id, owner_id, ending_since, namespace from labs
     where status = 'ending'
       and (($1::uuid is not null and id = $1::uuid) or ($1::uuid is null and ending_since < $2))
     order by watchdog_attempted_at nulls first, ending_since nulls last limit $3`,
    [query.labId ?? null, query.olderThan, query.labId ? 1 : query.limit],
  );
  return rows;
}

/** Take a lease on labs still in ENDING and not leased by anyone else; returns the ids taken. */
export async function claimLabs(
  db: Db,
  ids: string[],
  owner: string,
  now: Date,
  leaseSeconds: number,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `update labs set claimed_by = $2, claim_expires_at = $3::timestamptz + make_interval(secs => $4)
     where id = any($1::uuid[]) and status = 'ending' and (claimed_by is null or claim_expires_at < $3)
     returning id`,
    [ids, owner, now, leaseSeconds],
  );
  return rows.map((row) => row.id);
}

export interface LabFinish {
  id: string;
  owner: string;
  status: 'finished' | 'failed';
  now: Date;
  evidenceExpiresAt?: Date;
}

export async function finishLab(db: Db, finish: LabFinish): Promise<LabRow | undefined> {
  const { rows } = await db.query<LabRow>(
    `update labs set status = $3::text, finished_at = $4, status_changed_at = $4,
       evidence_expires_at = coalesce($5, evidence_expires_at),
       novnc_host_port = null, claimed_by = null, claim_expires_at = null
     where id = $1 and status = 'ending' and claimed_by = $2
     returning id, owner_id, ending_since, namespace`,
    [finish.id, finish.owner, finish.status, finish.now, finish.evidenceExpiresAt ?? null],
  );
  if (rows.length === 1) {
    await db.query(`update port_reservations set released_at = $2 where lab_id = $1 and released_at is null`, [
      finish.id,
      finish.now,
    ]);
  }
  return rows[0];
}

export interface UnknownAttempt {
  id: string;
  owner: string;
  now: Date;
  error: string;
}

/**
 * The teardown could not be verified: the lab stays ENDING, the attempt is counted and the lease
 * given back so a later run retries. Returns the attempts so far, or undefined if the lease was lost.
 */
export async function recordUnknownAttempt(db: Db, attempt: UnknownAttempt): Promise<number | undefined> {
  const { rows } = await db.query<{ attempts: number }>(
    `update labs set watchdog_unknown_attempts = watchdog_unknown_attempts + 1, watchdog_attempted_at = $3,
       watchdog_last_error = $4, claimed_by = null, claim_expires_at = null
     where id = $1 and status = 'ending' and claimed_by = $2
     returning watchdog_unknown_attempts as attempts`,
    [attempt.id, attempt.owner, attempt.now, attempt.error],
  );
  return rows[0]?.attempts;
}

/** Give a lease back without a verdict (the run ran out of time before this lab). */
export async function releaseClaim(db: Db, id: string, owner: string): Promise<void> {
  await db.query(`update labs set claimed_by = null, claim_expires_at = null where id = $1 and claimed_by = $2`, [
    id,
    owner,
  ]);
}
