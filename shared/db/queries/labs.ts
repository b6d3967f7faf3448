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

/**
 * Take a lease on labs still in ENDING and not leased by anyone else; returns the ids taken. A
 * lease `owner` already holds is taken again (and extended): a batch retried after its final
 * commit failed claims its own labs once more, while another run's live lease stays untouched.
 */
export async function claimLabs(
  db: Db,
  ids: string[],
  owner: string,
  now: Date,
  leaseSeconds: number,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `update labs set claimed_by = $2, claim_expires_at = $3::timestamptz + make_interval(secs => $4)
     where id = any($1::uuid[]) and status = 'ending'
       and (claimed_by is null or claimed_by = $2 or claim_expires_at < $3)
     returning id`,
    [ids, owner, now, leaseSeconds],
  );
  return rows.map((row) => row.id);
}

export interface LabFinish {
  id: string;
  status: 'finished' | 'failed';
  evidenceExpiresAt?: Date;
}

/**
 * Final states for many labs in one statement, each a compare-and-set on status = 'ending' and the
 * lease `owner` holds; the labs written release their noVNC ports. Returns the labs written: one
 * missing from the answer left ENDING or lost its lease meanwhile (a conflict).
 */
export async function finishLabs(db: Db, owner: string, now: Date, labs: LabFinish[]): Promise<LabRow[]> {
  if (labs.length === 0) return [];
  const { rows } = await db.query<LabRow>(
    `with input as (
       select * from unnest($1::uuid[], $2::text[], $3::timestamptz[]) as i(id, status, evidence_expires_at)
     ), finished as (
       update labs l set status = i.status, finished_at = $5, status_changed_at = $5,
         evidence_expires_at = coalesce(i.evidence_expires_at, l.evidence_expires_at),
         novnc_host_port = null, claimed_by = null, claim_expires_at = null
       from input i
       where l.id = i.id and l.status = 'ending' and l.claimed_by = $4
       returning l.id, l.owner_id, l.ending_since, l.namespace
     ), ports as (
       update port_reservations p set released_at = $5
       from finished f where p.lab_id = f.id and p.released_at is null
     )
     select id, owner_id, ending_since, namespace from finished`,
    [
      labs.map((lab) => lab.id),
      labs.map((lab) => lab.status),
      labs.map((lab) => lab.evidenceExpiresAt ?? null),
      owner,
      now,
    ],
  );
  return rows;
}

export interface UnknownAttempt {
  id: string;
  error: string;
}

/**
 * Teardowns that could not be verified, in one statement: each lab stays ENDING, its attempt is
 * counted and the lease given back so a later run retries. Returns the attempts so far per lab id;
 * a lab missing from the answer lost its lease or left ENDING meanwhile.
 */
export async function recordUnknownAttempts(
  db: Db,
  owner: string,
  now: Date,
  attempts: UnknownAttempt[],
): Promise<Map<string, number>> {
  if (attempts.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; attempts: number }>(
    `update labs l set watchdog_unknown_attempts = l.watchdog_unknown_attempts + 1, watchdog_attempted_at = $4,
       watchdog_last_error = i.error, claimed_by = null, claim_expires_at = null
     from unnest($1::uuid[], $2::text[]) as i(id, error)
     where l.id = i.id and l.status = 'ending' and l.claimed_by = $3
     returning l.id, l.watchdog_unknown_attempts as attempts`,
    [attempts.map((attempt) => attempt.id), attempts.map((attempt) => attempt.error), owner, now],
  );
  return new Map(rows.map((row) => [row.id, row.attempts]));
}

/** Give a lease back without a verdict (the run ran out of time before this lab). */
export async function releaseClaim(db: Db, id: string, owner: string): Promise<void> {
  await db.query(`update labs set claimed_by = null, claim_expires_at = null where id = $1 and claimed_by = $2`, [
    id,
    owner,
  ]);
}
