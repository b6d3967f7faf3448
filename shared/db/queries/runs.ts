/* The function_runs table: one row per invocation, opened at the start and closed at the end. */
import type { Db } from '../pool.js';

export type RunTrigger = 'schedule' | 'manual' | 'event';
export type RunOutcome = 'succeeded' | 'failed' | 'skipped' | 'accepted' | 'halted';

export interface RunStart {
  id: string;
  fn: string;
  trigger: RunTrigger;
  callId?: string;
  eventId?: string;
  eventType?: string;
  /** Which scheduler, manual caller or event producer started it (0012). */
  source?: string;
  dryRun: boolean;
  startedAt: Date;
}

export interface RunEnd {
  outcome: RunOutcome;
  counts: Record<string, number>;
  error?: string;
  finishedAt: Date;
}

export interface RunRow {
  id: string;
  function: string;
  trigger: RunTrigger;
  source: string | null;
  call_id: string | null;
  event_id: string | null;
  dry_run: boolean;
  started_at: Date;
  finished_at: Date | null;
  outcome: RunOutcome | 'running' | 'abandoned';
  counts: Record<string, number>;
  error: string | null;
}

export async function startRun(db: Db, run: RunStart): Promise<void> {
  await db.query(
    `insert into function_runs (id, function, trigger, call_id, event_id, event_type, dry_run, started_at, source)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      run.id,
      run.fn,
      run.trigger,
      run.callId ?? null,
      run.eventId ?? null,
      run.eventType ?? null,
      run.dryRun,
      run.startedAt,
      run.source ?? null,
    ],
  );
}

export async function recentRuns(db: Db, filter: { fn?: string; limit: number }): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(
    `select id, function, trigger, source, call_id, event_id, dry_run, started_at, finished_at, outcome, counts, error
     from function_runs where ($1::text is null or function = $1) order by started_at desc limit $2`,
    [filter.fn ?? null, filter.limit],
  );
  return rows;
}

const REAP_SET = `outcome = 'abandoned', finished_at = greatest($3::timestamptz, started_at),
         error = 'abandoned: still running after its budget and a margin (the process was killed or lost)'`;

/**
 * Close as `abandoned` the runs of this function still `running` that started before `startedBefore`
 * (their budget and a margin ago): a process killed outright never closes its own row.
 */
export async function reapAbandonedRuns(db: Db, fn: string, startedBefore: Date, now: Date): Promise<number> {
  const result = await db.query(
    `update function_runs set ${REAP_SET} where function = $1 and outcome = 'running' and started_at < $2`,
    [fn, startedBefore, now],
  );
  return result.rowCount ?? 0;
}

/** A session advisory lock, as the two-part key pg_try_advisory_lock takes (the name is hashed). */
export interface AdvisoryKey {
  namespace: number;
  name: string;
}

export interface OpenedRun {
  /** False: the lock was held elsewhere, and nothing was written. */
  locked: boolean;
  /** Runs of this function closed as abandoned. */
  reaped: number;
  /** The database's clock when the statement ran (for clock sanity). */
  databaseNow: Date;
}

/**
 * A run's start in one round trip: take the single-flight lock when a key is given (on the
 * connection that will hold it), and only with it close the function's abandoned runs (started
 * before `reapStartedBefore`) and insert this run's row; and read the database's clock.
 */
export async function openRun(db: Db, run: RunStart, reapStartedBefore: Date, lock?: AdvisoryKey): Promise<OpenedRun> {
  const { rows } = await db.query<{ locked: boolean; reaped: number; database_now: Date }>(
    `with lock as materialized (
       select case when $4::int is null then true else pg_try_advisory_lock($4::int, hashtext($5::text)) end as locked),
     reaped as (
       update function_runs set ${REAP_SET}
       where function = $1 and outcome = 'running' and started_at < $2 and (select locked from lock)
       returning 1),
     opened as (
       insert into function_runs (id, function, trigger, call_id, event_id, event_type, dry_run, started_at, source)
       select $6, $1, $7, $8, $9, $10, $11, $3, $12 where (select locked from lock)
       returning 1)
     select (select locked from lock) as locked, (select count(*) from reaped)::int as reaped,
            (select count(*) from opened) as opened, now() as database_now`,
    [
      run.fn,
      reapStartedBefore,
      run.startedAt,
      lock?.namespace ?? null,
      lock?.name ?? null,
      run.id,
      run.trigger,
      run.callId ?? null,
      run.eventId ?? null,
      run.eventType ?? null,
      run.dryRun,
      run.source ?? null,
    ],
  );
  const row = rows[0]!;
  return { locked: row.locked, reaped: row.reaped, databaseNow: row.database_now };
}

/**
 * Close a run with how it ended, and in the same round trip release its single-flight lock when it
 * holds one. `abandoned` is an inference from silence: a run that was only slow still records how it ended.
 */
export async function finishRun(db: Db, id: string, end: RunEnd, lock?: AdvisoryKey): Promise<void> {
  await db.query(
    `with finished as (
       update function_runs set outcome = $2, counts = $3, error = $4, finished_at = greatest($5::timestamptz, started_at)
       where id = $1 and outcome in ('running', 'abandoned')
       returning 1)
     select (select count(*) from finished) as finished,
            case when $6::int is null then null else pg_advisory_unlock($6::int, hashtext($7::text)) end as unlocked`,
    [
      id,
      end.outcome,
      JSON.stringify(end.counts),
      end.error?.slice(0, 4000) ?? null,
      end.finishedAt,
      lock?.namespace ?? null,
      lock?.name ?? null,
    ],
  );
}
