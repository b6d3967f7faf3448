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

// `abandoned` is an inference from silence: a run that was only slow still records how it ended.
export async function finishRun(db: Db, id: string, end: RunEnd): Promise<void> {
  await db.query(
    `update function_runs set outcome = $2, counts = $3, error = $4, finished_at = greatest($5::timestamptz, started_at)
     where id = $1 and outcome in ('running', 'abandoned')`,
    [id, end.outcome, JSON.stringify(end.counts), end.error?.slice(0, 4000) ?? null, end.finishedAt],
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

/**
 * Close as `abandoned` the runs of this function still `running` that started before `startedBefore`
 * (their budget and a margin ago): a process killed outright never closes its own row.
 */
export async function reapAbandonedRuns(db: Db, fn: string, startedBefore: Date, now: Date): Promise<number> {
  const result = await db.query(
    `update function_runs
     set outcome = 'abandoned', finished_at = greatest($3::timestamptz, started_at),
         error = 'abandoned: still running after its budget and a margin (the process was killed or lost)'
     where function = $1 and outcome = 'running' and started_at < $2`,
    [fn, startedBefore, now],
  );
  return result.rowCount ?? 0;
}
