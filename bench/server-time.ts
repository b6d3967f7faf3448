/*
 * How long statements ran inside the server, from pg_stat_statements (the bench database keeps it,
 * see startBenchDatabase): the time the client sees also holds its own parsing of the rows and its
 * garbage-collection pauses, which no change to the SQL can remove. Both are reported.
 */
import type pg from 'pg';

/** One normalised statement as the server counted it while `work` ran. */
export interface ServerStatement {
  text: string;
  calls: number;
  ms: number;
}

export interface ServerTime<T> {
  value: T;
  /** The sum of every statement's execution time (concurrent statements overlap in it). */
  serverMs: number;
  statements: ServerStatement[];
}

/** Runs `work` alone against the database and reads the server's execution time of what it sent. */
export async function serverTime<T>(pool: pg.Pool, work: () => Promise<T>): Promise<ServerTime<T>> {
  await pool.query('select pg_stat_statements_reset()');
  const value = await work();
  const { rows } = await pool.query<{ query: string; calls: string; ms: number }>(
    `select query, calls, total_exec_time as ms from pg_stat_statements
     where dbid = (select oid from pg_database where datname = current_database())
       and query not like '%pg_stat_statements%'
     order by total_exec_time desc`,
  );
  const statements = rows.map((row) => ({
    text: row.query.replace(/\s+/g, ' ').slice(0, 90),
    calls: Number(row.calls),
    ms: row.ms,
  }));
  return { value, serverMs: statements.reduce((sum, s) => sum + s.ms, 0), statements };
}
