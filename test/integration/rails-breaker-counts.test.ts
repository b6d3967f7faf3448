/*
 * What the blast-radius breaker's window counts: the destructive actions a run took up, not the ones
 * it decided. Replicas racing for the same work decide the same ends; the ones that lost the race
 * (another runner held the item, or won the compare-and-set) destroyed nothing and must not fill
 * the window, or the breaker trips on a fleet far below its limit. Anything that may have destroyed
 * something (applied, unknown, failed, left unfinished) still counts.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deps } from '../../shared/deps.js';
import type { Action } from '../../shared/plan.js';
import { defineFunction } from '../../shared/runtime/define-function.js';
import type { ActionResult } from '../../shared/runtime/execute.js';
import { baseOptionsSchema } from '../../shared/runtime/invocation.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertEndingLabs, loadEndingLabs } from '../support/kernel-functions.js';

// Limit: max(6, 1% of the live labs) per 10 minutes.
const h = useFunctionHarness({ BREAKER_MIN_ACTIONS: '6', BREAKER_FLEET_PERCENT: '1', BREAKER_WINDOW_MINUTES: '10' });

interface End extends Action {
  kind: 'end';
  result: ActionResult | 'throws';
}

// What each lab's end reports, in the order the labs load; the test sets it.
let results: (ActionResult | 'throws')[] = [];

const ender = defineFunction<BaseOptions, Deps, { id: string }[], End>({
  name: 'ending-watchdog',
  optionsSchema: baseOptionsSchema,
  load: loadEndingLabs,
  decide: (labs) => ({
    actions: labs.map((lab, index) => ({
      kind: 'end',
      entity: { kind: 'lab', id: lab.id },
      reason: 'test',
      destructive: true,
      result: results[index % results.length]!,
    })),
  }),
  executors: {
    end: async (_run, action) => {
      if (action.result === 'throws') throw new Error('the end failed half-way');
      return action.result;
    },
  },
});

beforeEach(async () => {
  await h.deps.pool.query('delete from labs');
  await h.deps.pool.query('delete from function_runs');
});

describe("the breaker's window", () => {
  it('counts applied, unknown, unfinished and failed ends, and not the ones another runner held or won', async () => {
    results = [
      { outcome: 'applied' },
      { outcome: 'conflict' },
      { outcome: 'skipped' },
      { outcome: 'unknown' },
      { outcome: 'applied', unfinished: true },
      'throws',
    ];
    await insertEndingLabs(h.deps.pool, 6);
    const result = await h.schedule(ender);
    expect(result.summary.destructive).toBe(4);
    const { rows } = await h.deps.pool.query(
      `select (counts ->> 'destructive')::int as n from function_runs where function = 'ending-watchdog'`,
    );
    expect(rows).toEqual([{ n: 4 }]);
  });

  it('is not filled by lost races: after three runs that only lost, a run within the limit acts', async () => {
    await insertEndingLabs(h.deps.pool, 3);
    results = [{ outcome: 'conflict' }, { outcome: 'skipped' }, { outcome: 'conflict' }];
    for (let run = 0; run < 3; run++) expect((await h.schedule(ender)).summary.destructive ?? 0).toBe(0);
    // Counting what they decided, the window would hold 9 and these 3 would trip the limit of 6.
    results = [{ outcome: 'applied' }];
    expect(await h.schedule(ender)).toMatchObject({ outcome: 'succeeded', summary: { destructive: 3 } });
  });
});
