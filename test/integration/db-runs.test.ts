import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appendDecisions, decisionsFor } from '../../shared/db/queries/decisions.js';
import { finishRun, reapAbandonedRuns, recentRuns, startRun } from '../../shared/db/queries/runs.js';
import { withSingleFlight } from '../../shared/db/single-flight.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();
const now = new Date('2026-06-01T12:00:00Z');

describe('function runs', () => {
  it('records a run from start to end and lists the newest first', async () => {
    const first = randomUUID();
    const second = randomUUID();
    await startRun(db.pool, { id: first, fn: 'warn', trigger: 'schedule', dryRun: false, startedAt: now });
    await startRun(db.pool, {
      id: second,
      fn: 'warn',
      trigger: 'manual',
      callId: 'c-1',
      dryRun: true,
      startedAt: new Date(now.getTime() + 1000),
    });
    await finishRun(db.pool, first, {
      outcome: 'failed',
      counts: { warned: 2, failed: 1 },
      error: 'exec timed out',
      finishedAt: new Date(now.getTime() + 500),
    });
    const runs = await recentRuns(db.pool, { fn: 'warn', limit: 10 });
    expect(runs.map((run) => run.id)).toEqual([second, first]);
    expect(runs[1]).toMatchObject({ outcome: 'failed', counts: { warned: 2, failed: 1 }, error: 'exec timed out' });
    expect(runs[0]).toMatchObject({ outcome: 'running', dry_run: true, call_id: 'c-1', finished_at: null });
  });

  it('closes a run only once', async () => {
    const id = randomUUID();
    await startRun(db.pool, { id, fn: 'expire', trigger: 'event', eventId: 'e-1', dryRun: false, startedAt: now });
    await finishRun(db.pool, id, { outcome: 'succeeded', counts: {}, finishedAt: now });
    await finishRun(db.pool, id, { outcome: 'failed', counts: {}, finishedAt: now });
    const [run] = await recentRuns(db.pool, { fn: 'expire', limit: 1 });
    expect(run!.outcome).toBe('succeeded');
  });
});

describe('abandoned runs', () => {
  const minutes = (n: number) => new Date(now.getTime() + n * 60_000);

  it('closes as abandoned, in one statement, the runs of one function left running before the cutoff, and no others', async () => {
    const stale = [randomUUID(), randomUUID()];
    const fresh = randomUUID();
    const otherFunction = randomUUID();
    const finished = randomUUID();
    for (const id of stale)
      await startRun(db.pool, { id, fn: 'snapshot-sync', trigger: 'schedule', dryRun: false, startedAt: minutes(-60) });
    await startRun(db.pool, {
      id: fresh,
      fn: 'snapshot-sync',
      trigger: 'schedule',
      dryRun: false,
      startedAt: minutes(-5),
    });
    await startRun(db.pool, {
      id: otherFunction,
      fn: 'oom-scan',
      trigger: 'schedule',
      dryRun: false,
      startedAt: minutes(-60),
    });
    await startRun(db.pool, {
      id: finished,
      fn: 'snapshot-sync',
      trigger: 'manual',
      dryRun: false,
      startedAt: minutes(-90),
    });
    await finishRun(db.pool, finished, { outcome: 'succeeded', counts: {}, finishedAt: minutes(-89) });

    expect(await reapAbandonedRuns(db.pool, 'snapshot-sync', minutes(-15), now)).toBe(2);
    const outcome = async (id: string) =>
      (
        await db.pool.query<{ outcome: string; finished_at: Date | null }>(
          'select outcome, finished_at from function_runs where id = $1',
          [id],
        )
      ).rows[0];
    for (const id of stale) expect(await outcome(id)).toEqual({ outcome: 'abandoned', finished_at: now });
    expect(await outcome(fresh)).toEqual({ outcome: 'running', finished_at: null });
    expect(await outcome(otherFunction)).toMatchObject({ outcome: 'running' });
    expect(await outcome(finished)).toMatchObject({ outcome: 'succeeded' });
    expect(await reapAbandonedRuns(db.pool, 'snapshot-sync', minutes(-15), now)).toBe(0);
  });

  it('lets a run reaped while it was only slow still record how it ended', async () => {
    const id = randomUUID();
    await startRun(db.pool, { id, fn: 'warn', trigger: 'schedule', dryRun: false, startedAt: minutes(-60) });
    await reapAbandonedRuns(db.pool, 'warn', minutes(-15), now);
    await finishRun(db.pool, id, { outcome: 'succeeded', counts: { warned: 1 }, finishedAt: minutes(1) });
    const [run] = (await recentRuns(db.pool, { fn: 'warn', limit: 10 })).filter((row) => row.id === id);
    expect(run).toMatchObject({ outcome: 'succeeded', counts: { warned: 1 }, error: null });
  });
});

describe('decision log', () => {
  it('appends decisions and answers what happened to an entity, newest first', async () => {
    const runId = randomUUID();
    await appendDecisions(
      db.pool,
      [
        {
          runId,
          fn: 'expire',
          entityKind: 'reservation',
          entityId: 'r-9',
          action: 'expire',
          reason: 'deadline passed',
          inputs: { expiresAt: '2026-06-01T11:00:00Z' },
          outcome: 'applied',
        },
        {
          runId,
          fn: 'expire',
          entityKind: 'reservation',
          entityId: 'r-8',
          action: 'expire',
          reason: 'deadline passed',
          outcome: 'conflict',
        },
      ],
      now,
    );
    await appendDecisions(
      db.pool,
      [
        {
          fn: 'cleanup-pod',
          entityKind: 'reservation',
          entityId: 'r-9',
          action: 'delete-pod',
          reason: 'reservation expired',
          outcome: 'failed',
          error: '503',
        },
      ],
      new Date(now.getTime() + 60_000),
    );
    const history = await decisionsFor(db.pool, 'reservation', 'r-9');
    expect(history.map((entry) => [entry.function, entry.action, entry.outcome])).toEqual([
      ['cleanup-pod', 'delete-pod', 'failed'],
      ['expire', 'expire', 'applied'],
    ]);
    expect(history[1]!.inputs).toEqual({ expiresAt: '2026-06-01T11:00:00Z' });
  });
});

describe('single flight', () => {
  it('runs one of two concurrent ticks and tells the other to skip', async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = withSingleFlight(db.pool, 'warn', async () => {
      await gate;
      return 'first';
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await withSingleFlight(db.pool, 'warn', async () => 'second');
    expect(second).toEqual({ ran: false });
    const other = await withSingleFlight(db.pool, 'expire', async () => 'other function');
    expect(other).toEqual({ ran: true, value: 'other function' });
    release();
    expect(await first).toEqual({ ran: true, value: 'first' });
    expect(await withSingleFlight(db.pool, 'warn', async () => 'third')).toEqual({ ran: true, value: 'third' });
  });

  it('releases the lock when the work throws', async () => {
    await expect(withSingleFlight(db.pool, 'oom-scan', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    expect(await withSingleFlight(db.pool, 'oom-scan', async () => 1)).toEqual({ ran: true, value: 1 });
  });
});
