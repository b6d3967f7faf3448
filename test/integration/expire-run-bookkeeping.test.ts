/*
 * A scheduled run (expire's, as every function's) opens and closes its row on the connection that
 * holds its single-flight lock, one statement each. If that connection dies during the run (a
 * terminated session), the lock is gone with it, and the run still closes its row over the pool:
 * it is not left `running` until reaped as abandoned, and the next tick runs.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { recentRuns } from '../../shared/db/queries/runs.js';
import { createLogger } from '../../shared/log.js';
import type { BaseOptions, Invocation } from '../../shared/runtime/invocation.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { runScoped } from '../../shared/runtime/run-scope.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { useTestDatabase } from '../support/database.js';
import { eventually } from '../support/eventually.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
const services = (): RunServices => ({
  pool: db.pool,
  clock,
  log: createLogger({ level: 'silent', hashSalt: 's', destination: new Writable({ write: (_c, _e, d) => d() }) }),
  metrics: createMetrics(),
  publish: { mode: 'none' },
  paused: false,
  defaultMaxItems: 50,
  budgetSeconds: 50,
  deliveryTimeoutMs: 2000,
  concurrency: 4,
});
const tick: Invocation<BaseOptions> = {
  kind: 'schedule',
  source: 'cron-connector',
  callId: 'c-1',
  options: { dryRun: false },
};

/** End the session that holds a single-flight lock (as a failover or an operator would). */
async function terminateLockHolder(): Promise<number> {
  const { rows } = await db.pool.query<{ ended: boolean }>(
    `select pg_terminate_backend(pid) as ended from pg_locks where locktype = 'advisory' and granted and pid <> pg_backend_pid()`,
  );
  return rows.filter((row) => row.ended).length;
}

describe("a scheduled run's bookkeeping connection", () => {
  it('dies during the run: the run still records how it ended, and the next tick is not skipped', async () => {
    let terminated = 0;
    const result = await runScoped(services(), 'expire', tick, async () => {
      terminated = await terminateLockHolder();
      return { summary: { expired: 3 }, failures: [] };
    });
    expect(terminated).toBe(1);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { expired: 3 } });
    const [run] = await recentRuns(db.pool, { fn: 'expire', limit: 1 });
    expect(run).toMatchObject({ id: result.runId, outcome: 'succeeded', counts: { expired: 3 } });
    expect(run!.finished_at).not.toBeNull();

    const next = await runScoped(services(), 'expire', tick, async () => ({ summary: {}, failures: [] }));
    expect(next.outcome).toBe('succeeded');
  });

  it('a second tick while the first holds the lock is skipped and writes no row', async () => {
    const rowsNow = async () =>
      (await db.pool.query<{ n: number }>(`select count(*)::int as n from function_runs where function = 'expire'`))
        .rows[0]!.n;
    const before = await rowsNow();
    let inner: Awaited<ReturnType<typeof runScoped>> | undefined;
    await runScoped(services(), 'expire', tick, async () => {
      inner = await runScoped(services(), 'expire', tick, async () => ({ summary: {}, failures: [] }));
      return { summary: {}, failures: [] };
    });
    expect(inner).toEqual({ outcome: 'skipped', summary: {}, message: 'skipped: already running' });
    expect((await recentRuns(db.pool, { fn: 'expire', limit: 10 })).filter((run) => run.outcome === 'running')).toEqual(
      [],
    );
    // Only the run that held the lock wrote a row.
    expect(await rowsNow()).toBe(before + 1);
  });

  it('a failing open (the lock taken, the row refused) gives no held lock back to the pool', async () => {
    // A session lock taken by a statement that then fails is still held: the connection must not be reused.
    await db.pool.query(`create function refuse_run() returns trigger language plpgsql as $$
      begin raise exception 'refused for the test'; end $$`);
    await db.pool.query(
      `create trigger refuse_run before insert on function_runs for each row execute function refuse_run()`,
    );
    await expect(runScoped(services(), 'expire', tick, async () => ({ summary: {}, failures: [] }))).rejects.toThrow(
      /refused for the test/,
    );
    // Held by nobody (the closed session's backend may take a moment to exit): another replica's tick could take it.
    const held = async () =>
      (
        await db.pool.query<{ n: number }>(
          `select count(*)::int n from pg_locks where locktype = 'advisory' and granted`,
        )
      ).rows[0]!.n;
    await eventually(async () => (await held()) === 0, 'the failed open holds no advisory lock', 5000);
    await db.pool.query('drop trigger refuse_run on function_runs');
    await db.pool.query('drop function refuse_run()');
    for (let tickNumber = 0; tickNumber < 3; tickNumber++) {
      const next = await runScoped(services(), 'expire', tick, async () => ({ summary: {}, failures: [] }));
      expect(next.outcome).toBe('succeeded');
    }
  });
});
