/*
 * The blast-radius breaker on a function on the run kernel (ending-watchdog): a bulk change that
 * would end half the fleet ends nothing, ends the run `halted` with its evidence and alerts; an
 * operator override lets the same run proceed, and expires; a run within the limit never trips.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { readFleet } from '../../shared/db/queries/fleet.js';
import { grantOverride, parseOverrideArgs, parseSpan } from '../../local/cli-breaker.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

// Limit: max(3, 20% of the live labs).
const h = useFunctionHarness({ BREAKER_MIN_ACTIONS: '3', BREAKER_FLEET_PERCENT: '20', BREAKER_WINDOW_MINUTES: '10' });
const NS = 'octolab-labs';
const ago = (minutes: number) => new Date(h.clock.now().getTime() - minutes * 60_000);
const q = async (sql: string, params: unknown[] = []) => (await h.deps.pool.query(sql, params)).rows;

async function fleet(live: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < live; index++) {
    const lab = await insertLab(h.deps.pool, { status: 'ready', namespace: NS, status_changed_at: ago(300) });
    h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}`, namespace: NS, labels: { 'lab-id': lab.id } });
    ids.push(lab.id);
  }
  return ids;
}

// What a mistaken bulk UPDATE does: labs that were fine are all "ending" since two hours ago.
const bulkEnding = (ids: string[]) =>
  q(`update labs set status = 'ending', status_changed_at = $2, ending_since = $2 where id = any($1::uuid[])`, [
    ids,
    ago(120),
  ]);
const statuses = async () =>
  Object.fromEntries(
    (await q('select status, count(*)::int n from labs group by status')).map((row) => [row.status, row.n]),
  );
const podsLeft = () => h.sim.kube.list('pods', NS).length;
const halts = async () =>
  (await h.deps.metrics.registry.getSingleMetric('devenv_lifecycle_rail_halts_total')?.get())?.values.find(
    (v) => v.labels.function === 'ending-watchdog' && v.labels.rail === 'breaker',
  )?.value ?? 0;

beforeEach(async () => {
  await q('delete from labs');
  await q('delete from function_runs');
  await q('delete from breaker_overrides');
  for (const pod of h.sim.kube.list('pods', NS))
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: pod.metadata.name });
});

describe('the blast-radius breaker', () => {
  it('a bulk change that would end half the fleet ends nothing, halts the run with its evidence and alerts; an override lets the same run proceed', async () => {
    const ids = await fleet(20);
    await bulkEnding(ids.slice(0, 10));
    const before = await halts();

    const halted = await h.schedule(endingWatchdog);
    expect(halted).toMatchObject({
      outcome: 'halted',
      summary: { selected: 10, withheld: 10, finished: 0, destructive: 0 },
    });
    expect(halted.message).toMatch(
      /10 destructive action\(s\) in this run and 0 in the last 10 minutes exceed the limit of 4 \(max\(3, 20% of 20 live labs\)\)/,
    );
    expect(await statuses()).toEqual({ ready: 10, ending: 10 });
    expect(podsLeft()).toBe(20);
    // The evidence: one entry for the function, one per withheld lab.
    const trip = await q(
      `select action, outcome, inputs from decision_log where entity_kind = 'function' and run_id = $1`,
      [halted.runId],
    );
    expect(trip).toEqual([
      {
        action: 'breaker-trip',
        outcome: 'halted',
        inputs: expect.objectContaining({
          destructive: 10,
          recentDestructive: 0,
          fleet: 20,
          fleetOf: 'labs',
          limit: 4,
        }),
      },
    ]);
    expect(
      (
        await q(
          `select entity_id from decision_log where entity_kind = 'lab' and outcome = 'halted' and action = 'force'`,
        )
      )
        .map((r) => r.entity_id)
        .sort(),
    ).toEqual(ids.slice(0, 10).sort());
    expect(await q(`select outcome, error like 'blast-radius breaker:%' as evidence from function_runs`)).toEqual([
      { outcome: 'halted', evidence: true },
    ]);
    // The alert: the function's own counter, and the fleet gauge DevenvLifecycleRunsHalted reads.
    expect((await halts()) - before).toBe(1);
    const reading = await readFleet(
      h.deps.pool,
      h.clock.now(),
      { queueTimeoutHours: 48, preparingTimeoutMinutes: 60, watchdogOlderThanMinutes: 30 } as never,
      ['ending-watchdog'],
    );
    expect(reading.halted['ending-watchdog']).toBe(1);

    // Halted again while nobody decides: the breaker waits for an operator, it does not wear off.
    h.clock.advanceMinutes(1);
    expect((await h.schedule(endingWatchdog)).outcome).toBe('halted');

    const request = parseOverrideArgs(
      ['ending-watchdog', '--for', '1h', '--reason', 'intended: the region is being drained'],
      { USER: 'ops' },
    );
    const override = await grantOverride(h.deps.pool, request, h.clock.now());
    const granted = await q(
      `select action, reason, inputs from decision_log where action = 'breaker-override-granted'`,
    );
    expect(granted).toEqual([
      {
        action: 'breaker-override-granted',
        reason: expect.stringContaining('operator ops lets ending-watchdog act past the blast-radius breaker until'),
        inputs: expect.objectContaining({ overrideId: override.id, by: 'ops' }),
      },
    ]);

    h.clock.advanceMinutes(1);
    const proceeded = await h.schedule(endingWatchdog);
    expect(proceeded).toMatchObject({
      outcome: 'succeeded',
      summary: { finished: 10, destructive: 10, breaker_overridden: 1 },
    });
    expect(await statuses()).toEqual({ ready: 10, finished: 10 });
    expect(podsLeft()).toBe(10);
    const used = await q(
      `select action, outcome, inputs->>'overrideId' as id from decision_log where action = 'breaker-override'`,
    );
    expect(used).toEqual([{ action: 'breaker-override', outcome: 'applied', id: override.id }]);
  });

  it('an override expires: past it, the next bulk change halts again', async () => {
    const ids = await fleet(20);
    await grantOverride(
      h.deps.pool,
      { fn: 'ending-watchdog', seconds: 1800, reason: 'drain', by: 'ops' },
      h.clock.now(),
    );
    h.clock.advanceMinutes(31);
    await bulkEnding(ids.slice(0, 10));
    expect((await h.schedule(endingWatchdog)).outcome).toBe('halted');
    expect(await statuses()).toEqual({ ready: 10, ending: 10 });
  });

  it('does NOT trip within the limit, and counts what it did for the window', async () => {
    const ids = await fleet(20);
    await bulkEnding(ids.slice(0, 4));
    const result = await h.schedule(endingWatchdog);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { finished: 4, destructive: 4 } });
    expect(
      await q(`select count(*)::int n from decision_log where run_id = $1 and outcome = 'halted'`, [result.runId]),
    ).toEqual([{ n: 0 }]);
  });

  it('adds up the recent runs: a slow drip past the limit within the window halts, the same drip after the window does not', async () => {
    const ids = await fleet(20);
    await bulkEnding(ids.slice(0, 3));
    expect((await h.schedule(endingWatchdog)).summary).toMatchObject({ finished: 3 });
    h.clock.advanceMinutes(2);
    await bulkEnding(ids.slice(3, 5));
    const halted = await h.schedule(endingWatchdog);
    expect(halted).toMatchObject({ outcome: 'halted', summary: { withheld: 2 } });
    expect(halted.message).toMatch(/2 destructive action\(s\) in this run and 3 in the last 10 minutes/);
    h.clock.advanceMinutes(10);
    expect(await h.schedule(endingWatchdog)).toMatchObject({ outcome: 'succeeded', summary: { finished: 2 } });
  });

  it('a dry run lists what it would do and is never halted', async () => {
    const ids = await fleet(20);
    await bulkEnding(ids.slice(0, 10));
    const result = await h.manual(endingWatchdog, { dryRun: true });
    expect(result.outcome).toBe('succeeded');
    expect(result.items).toHaveLength(10);
  });

  it('refuses an override without a reason, for an unknown function, or for longer than a day', () => {
    expect(() => parseOverrideArgs(['ending-watchdog', '--for', '1h'], {})).toThrow(/--reason is required/);
    expect(() => parseOverrideArgs(['expire2', '--for', '1h', '--reason', 'x'], {})).toThrow(
      /unknown function "expire2"/,
    );
    expect(() => parseSpan('25h', '--for', 86_400)).toThrow(/at most 24h/);
    expect(parseSpan('1h30m', '--for', 86_400)).toBe(5400);
  });
});
