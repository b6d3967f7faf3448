/*
 * The kernel's path for one request that needs an answer (request-run.ts), with a step of the
 * test's own that moves a reservation's deadline: a refusal is counted and its decision committed
 * with the run's id, an accepted action under the pause changes nothing and is counted as paused
 * (not as an action), an applied one is counted with its metric, and a failing execute leaves no
 * partial write behind and its run recorded `failed`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { refuseBeforeRun, runRequest } from '../../shared/runtime/request-run.js';
import type { RequestStep } from '../../shared/runtime/request-run.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { sinkRunServices } from '../support/run-services.js';

const db = useTestDatabase();
const clock = new ManualClock('2026-06-01T12:00:00Z');
let services: RunServices;

beforeAll(() => {
  // No events are staged here: nothing is delivered, so the sink is never called.
  const base = sinkRunServices(db.pool, clock, 'http://127.0.0.1:9/', { budgetSeconds: 50, deliveryTimeoutMs: 2000 });
  services = { ...base, publish: { mode: 'none' } };
});

type Outcome = 'applied' | 'conflict';

/** Moves the reservation's deadline an hour on, with its decision, unless refused; `executed` tells whether it ran. */
function moveDeadline(id: string, options: { refuse?: boolean; explain?: boolean; fail?: boolean } = {}) {
  const seen = { executed: false };
  const step: RequestStep<string, number, Outcome> = {
    asked: { kind: 'move', entity: { kind: 'reservation', id } },
    decide: async () =>
      options.refuse
        ? {
            refused: 'not-today',
            explanation: options.explain === false ? undefined : { reason: 'refused: not today', inputs: { day: 1 } },
          }
        : { accepted: 60 },
    execute: async (run, minutes) => {
      seen.executed = true;
      return run.commit(async (tx) => {
        const { rowCount } = await tx.query(
          `update reservations set expires_at = expires_at + make_interval(mins => $2) where reservation_id = $1`,
          [id, minutes],
        );
        if (options.fail) throw new Error('the write after the update failed');
        return {
          value: rowCount === 1 ? 'applied' : 'conflict',
          decisions: [{ entityKind: 'reservation', entityId: id, action: 'move', reason: `moved by ${minutes}m` }],
        };
      });
    },
  };
  return { step, seen };
}

async function deadlineOf(id: string): Promise<string> {
  const { rows } = await db.pool.query<{ expires_at: Date }>(
    'select expires_at from reservations where reservation_id = $1',
    [id],
  );
  return rows[0]!.expires_at.toISOString();
}

async function decisionsOf(id: string) {
  const { rows } = await db.pool.query(
    `select run_id, function, action, reason, outcome, inputs from decision_log where entity_id = $1 order by id`,
    [id],
  );
  return rows as Record<string, unknown>[];
}

async function runOf(runId: string | undefined) {
  const { rows } = await db.pool.query(`select dry_run, outcome, counts, error from function_runs where id = $1`, [
    runId,
  ]);
  return rows[0] as { dry_run: boolean; outcome: string; counts: Record<string, number>; error: string | null };
}

async function movesCounted(outcome: string): Promise<number> {
  const metric = await services.metrics.registry.getSingleMetric('devenv_lifecycle_actions_total')?.get();
  const value = metric?.values.find(
    (v) => v.labels.function === 'extend' && v.labels.kind === 'move' && v.labels.outcome === outcome,
  );
  return value?.value ?? 0;
}

describe('runRequest', () => {
  it("records a refusal's decision in the run's commit, counts it, and never executes", async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const before = await movesCounted('refused');
    const { step, seen } = moveDeadline(id, { refuse: true });
    const result = await runRequest(services, 'extend', 'link', step);
    expect(result).toMatchObject({ refused: 'not-today' });
    expect(seen.executed).toBe(false);
    expect(await decisionsOf(id)).toEqual([
      {
        run_id: result.runId,
        function: 'extend',
        action: 'move',
        reason: 'refused: not today',
        outcome: 'skipped',
        inputs: { day: 1 },
      },
    ]);
    expect(await runOf(result.runId)).toMatchObject({ outcome: 'succeeded', counts: { refused: 1 } });
    expect(await movesCounted('refused')).toBe(before + 1);
  });

  it('writes no decision for a refusal without an explanation (no entity to explain it about)', async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const result = await runRequest(
      services,
      'extend',
      'link',
      moveDeadline(id, { refuse: true, explain: false }).step,
    );
    expect(await decisionsOf(id)).toEqual([]);
    expect(await runOf(result.runId)).toMatchObject({ counts: { refused: 1 } });
  });

  it('under the pause, an accepted action changes nothing and is counted as paused, not as an action', async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const deadline = await deadlineOf(id);
    const before = { applied: await movesCounted('applied'), paused: await movesCounted('paused') };
    const { step, seen } = moveDeadline(id);
    const result = await runRequest({ ...services, paused: true }, 'extend', 'link', step);
    expect(result).toMatchObject({ accepted: 60, outcome: 'paused' });
    expect(seen.executed).toBe(false);
    expect(await deadlineOf(id)).toBe(deadline);
    expect(await decisionsOf(id)).toEqual([]);
    expect(await runOf(result.runId)).toMatchObject({ dry_run: true, outcome: 'succeeded', counts: { paused: 1 } });
    expect({ applied: await movesCounted('applied'), paused: await movesCounted('paused') }).toEqual(before);
  });

  it('under the pause, a refusal is still recorded', async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const result = await runRequest(
      { ...services, paused: true },
      'extend',
      'link',
      moveDeadline(id, { refuse: true }).step,
    );
    expect(result).toMatchObject({ refused: 'not-today' });
    expect(await decisionsOf(id)).toMatchObject([{ run_id: result.runId, outcome: 'skipped' }]);
  });

  it('counts an applied action in the summary and the metric, its decision committed with its effect', async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const deadline = new Date(await deadlineOf(id));
    const before = await movesCounted('applied');
    const result = await runRequest(services, 'extend', 'operator', moveDeadline(id).step);
    expect(result).toMatchObject({ accepted: 60, outcome: 'applied' });
    expect(await deadlineOf(id)).toBe(new Date(deadline.getTime() + 3_600_000).toISOString());
    expect(await decisionsOf(id)).toMatchObject([
      { run_id: result.runId, action: 'move', reason: 'moved by 60m', outcome: 'applied' },
    ]);
    expect(await runOf(result.runId)).toMatchObject({ outcome: 'succeeded', counts: { applied: 1 } });
    expect(await movesCounted('applied')).toBe(before + 1);
  });

  it('a failing execute leaves no partial write, records the run failed and counts nothing', async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const deadline = await deadlineOf(id);
    const before = { applied: await movesCounted('applied'), failed: await movesCounted('failed') };
    await expect(runRequest(services, 'extend', 'link', moveDeadline(id, { fail: true }).step)).rejects.toThrow(
      'the write after the update failed',
    );
    expect(await deadlineOf(id)).toBe(deadline);
    expect(await decisionsOf(id)).toEqual([]);
    const { rows } = await db.pool.query(
      `select outcome, counts, error from function_runs where function = 'extend' and error like '%write after%'`,
    );
    expect(rows).toEqual([{ outcome: 'failed', counts: {}, error: 'the write after the update failed' }]);
    expect({ applied: await movesCounted('applied'), failed: await movesCounted('failed') }).toEqual(before);
  });
});

describe('refuseBeforeRun', () => {
  it('counts the refusal and, when it names an entity, explains it without a run', async () => {
    const { reservation_id: id } = await insertReservation(db.pool);
    const before = await movesCounted('replay');
    await refuseBeforeRun(services, 'extend', {
      kind: 'move',
      outcome: 'replay',
      about: { entity: { kind: 'reservation', id }, reason: 'refused (replay)', inputs: { at: 1 } },
    });
    expect(await decisionsOf(id)).toEqual([
      {
        run_id: null,
        function: 'extend',
        action: 'move',
        reason: 'refused (replay)',
        outcome: 'skipped',
        inputs: { at: 1 },
      },
    ]);
    expect(await movesCounted('replay')).toBe(before + 1);
  });
});
