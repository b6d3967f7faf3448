/*
 * Where a due warn run spends its time (issue 18): nothing in it is serial per warning. Every
 * warning of a batch is in flight at once (one exec each, WARN_CONCURRENCY wide), and the SQL of a
 * run does not grow with the warnings in a batch: claims, outcomes, decisions and events are
 * written per batch, so there is no per-warning round trip to the database between the execs.
 * No timings are asserted here (the benchmark measures them); concurrency and counts are exact.
 */
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { warn } from '../../functions/warn/handler.js';
import type { PodExec } from '../../shared/kube/pods.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertReservation } from '../support/fixtures.js';

// A batch is WARN_CONCURRENCY warnings, one wave of execs.
const BATCH = 16;
const h = useFunctionHarness({ WARN_CONCURRENCY: String(BATCH) });
const inMinutes = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);

// Every statement any pg client sends, as the benchmark counts them.
const counted = { statements: 0 };
const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const original = proto.query;
proto.query = function (this: unknown, ...args: unknown[]) {
  counted.statements += 1;
  return original.apply(this, args);
};
afterAll(() => {
  proto.query = original;
});

/** The real exec, watched: how many were in flight at once, and whether any SQL ran between their starts. */
function watchedExec(real: PodExec) {
  const watch = { inFlight: 0, most: 0, started: 0, statementsBetweenStarts: 0, lastStart: -1 };
  const exec: PodExec = {
    exec: async (target, argv, stdin) => {
      if (watch.lastStart >= 0) watch.statementsBetweenStarts += counted.statements - watch.lastStart;
      watch.lastStart = counted.statements;
      watch.started += 1;
      watch.most = Math.max(watch.most, ++watch.inFlight);
      try {
        return await real.exec(target, argv, stdin);
      } finally {
        watch.inFlight -= 1;
      }
    },
  };
  return { exec, watch };
}

async function dueWarnings(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${String(i).padStart(3, '0')}-fan`;
    const podName = `gpu-dev-${prefix}${String(i).padStart(3, '0')}`;
    await insertReservation(h.deps.pool, {
      reservation_id: id,
      pod_name: podName,
      namespace: 'gpu-dev',
      expires_at: inMinutes(12),
    });
    h.sim.kube.addPod({ namespace: 'gpu-dev', name: podName, labels: { 'reservation-id': id } });
  }
}

async function runWatched() {
  const { exec, watch } = watchedExec(h.deps.exec);
  const before = counted.statements;
  const result = await warn.handle(
    { kind: 'manual', callId: crypto.randomUUID(), options: warn.optionsSchema.parse({ maxItems: 1000 }) },
    { ...h.deps, exec },
  );
  return { result, watch, statements: counted.statements - before };
}

beforeEach(async () => {
  h.sim.faults.clear();
  await h.deps.pool.query(`update reservations set status = 'expired' where status = 'active'`);
});

describe('warn: delivery fan-out', () => {
  it('has every warning of a batch in flight at once, with no SQL between the execs', async () => {
    await dueWarnings('fa', BATCH);
    // Execs that take a while, so any serial step between them would show as fewer in flight.
    h.sim.faults.add({ path: /\/exec/, delayMs: 150 });
    const { result, watch } = await runWatched();
    expect(result.summary).toMatchObject({ warned: BATCH, warn_failed: 0 });
    expect(watch).toMatchObject({ started: BATCH, most: BATCH, statementsBetweenStarts: 0 });
  });

  it('costs the same statements for 3 warnings as for a full batch: nothing is written per warning', async () => {
    await dueWarnings('fb', 3);
    const few = await runWatched();
    expect(few.result.summary).toMatchObject({ warned: 3 });
    await h.deps.pool.query(`update reservations set status = 'expired' where status = 'active'`);
    await dueWarnings('fc', BATCH);
    const full = await runWatched();
    expect(full.result.summary).toMatchObject({ warned: BATCH });
    expect(full.statements).toBe(few.statements);
  });

  it('takes more than a batch in consecutive batches, each one wave of execs', async () => {
    await dueWarnings('fd', BATCH + 6);
    const { result, watch } = await runWatched();
    expect(result.summary).toMatchObject({ warned: BATCH + 6 });
    expect(watch.most).toBe(BATCH);
  });
});
