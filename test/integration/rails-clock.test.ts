/*
 * Clock sanity: a function whose clock is more than CLOCK_SKEW_MAX_SECONDS from the database's
 * refuses its destructive actions (not executed, reported, counted, decision-logged) and ends
 * `halted`; with the clocks in agreement it acts. A wall clock shifted by a fixed offset stands in
 * for a node whose time drifted; a manual clock is checked the same way (the other harnesses turn
 * the rail off explicitly with CLOCK_SKEW_MAX_SECONDS=0, since their clocks keep their own time).
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import type { Clock } from '../../shared/clock.js';
import { makeDeps } from '../../shared/deps.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

const h = useFunctionHarness({ CLOCK_SKEW_MAX_SECONDS: '30' });
const NS = 'octolab-labs';
const q = async (sql: string, params: unknown[] = []) => (await h.deps.pool.query(sql, params)).rows;

const shifted = (offsetSeconds: number): Clock => ({ now: () => new Date(Date.now() + offsetSeconds * 1000) });

async function runWith(clock: Clock) {
  const deps = makeDeps(h.deps.config, { clock, pool: h.deps.pool, log: h.deps.log, metrics: h.deps.metrics });
  return endingWatchdog.handle(
    {
      kind: 'schedule',
      source: 'cron-connector',
      callId: randomUUID(),
      options: endingWatchdog.optionsSchema.parse({}),
    },
    deps,
  );
}

async function stuckLabs(count: number): Promise<string[]> {
  const since = new Date(Date.now() - 3 * 3600_000);
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const lab = await insertLab(h.deps.pool, {
      status: 'ending',
      namespace: NS,
      status_changed_at: since,
      ending_since: since,
    });
    h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}`, namespace: NS, labels: { 'lab-id': lab.id } });
    ids.push(lab.id);
  }
  return ids;
}

const statuses = async (ids: string[]) =>
  (await q('select status from labs where id = any($1::uuid[])', [ids])).map((row) => row.status);
const skewGauge = async () =>
  (await h.deps.metrics.registry.getSingleMetric('devenv_lifecycle_clock_skew_seconds')?.get())?.values.find(
    (v) => v.labels.function === 'ending-watchdog',
  )?.value;

beforeEach(async () => {
  await q('delete from labs');
  for (const pod of h.sim.kube.list('pods', NS))
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: pod.metadata.name });
});

describe('clock sanity', () => {
  it.each([
    ['ahead', 120],
    ['behind', -120],
  ])(
    'a clock %s of the database by two minutes refuses every destructive action and halts the run',
    async (_label, offset) => {
      const ids = await stuckLabs(2);
      const result = await runWith(shifted(offset));
      expect(result).toMatchObject({ outcome: 'halted', summary: { selected: 2, refused_clock: 2, finished: 0 } });
      expect(result.message).toMatch(
        /clock sanity: this function's clock is -?1\d\d(\.\d+)? s from the database's \(limit 30 s\)/,
      );
      expect(await statuses(ids)).toEqual(['ending', 'ending']);
      expect(h.sim.kube.list('pods', NS)).toHaveLength(2);
      const logged = await q(
        `select entity_kind, action, outcome, inputs from decision_log where run_id = $1 order by entity_kind, entity_id`,
        [result.runId],
      );
      expect(logged.map((row) => [row.entity_kind, row.action, row.outcome])).toEqual([
        ['function', 'clock-skew', 'halted'],
        ['lab', 'force', 'halted'],
        ['lab', 'force', 'halted'],
      ]);
      expect(Math.sign(logged[0].inputs.skewSeconds)).toBe(Math.sign(offset));
      expect(Math.abs(logged[1].inputs.clock.skewSeconds)).toBeGreaterThan(110);
      expect(Math.abs((await skewGauge())!)).toBeGreaterThan(110);
      expect(await q('select outcome from function_runs where id = $1', [result.runId])).toEqual([
        { outcome: 'halted' },
      ]);
    },
  );

  it('a manual clock is checked too: two minutes from the database it refuses, set to the database time it acts', async () => {
    const ids = await stuckLabs(2);
    const databaseNow = (await q('select now() as now'))[0].now as Date;
    h.clock.set(new Date(databaseNow.getTime() + 120_000));
    const refused = await h.schedule(endingWatchdog);
    expect(refused).toMatchObject({ outcome: 'halted', summary: { refused_clock: 2, finished: 0 } });
    expect(await statuses(ids)).toEqual(['ending', 'ending']);
    h.clock.set((await q('select now() as now'))[0].now as Date);
    expect(await h.schedule(endingWatchdog)).toMatchObject({ outcome: 'succeeded', summary: { finished: 2 } });
    expect(await statuses(ids)).toEqual(['finished', 'finished']);
  });

  it('does NOT refuse within the limit: a clock 10 s off acts as usual', async () => {
    const ids = await stuckLabs(2);
    const result = await runWith(shifted(10));
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { finished: 2 } });
    expect(result.summary.refused_clock).toBeUndefined();
    expect(await statuses(ids)).toEqual(['finished', 'finished']);
  });
});
