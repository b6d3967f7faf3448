/*
 * Shadow mode: ending-watchdog in SHADOW_FUNCTIONS decides and records every decision as `shadow`
 * and changes nothing; the shadow report then lists exactly the disagreements seeded between its
 * decisions and what the system still in charge (here: SQL standing in for the old watchdog) did.
 */
import { describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { buildShadowReport, formatShadowReport, parseShadowArgs } from '../../local/cli-shadow.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

const h = useFunctionHarness({ SHADOW_FUNCTIONS: 'ending-watchdog', WATCHDOG_OLDER_THAN_MINUTES: '30' });
const NS = 'octolab-labs';
const at = (minutes: number) => new Date(h.clock.now().getTime() + minutes * 60_000);
const q = async (sql: string, params: unknown[] = []) => (await h.deps.pool.query(sql, params)).rows;
const snapshot = () => q('select * from labs order by id');

async function endingLab(minutesInEnding: number): Promise<string> {
  const lab = await insertLab(h.deps.pool, {
    status: 'ending',
    namespace: NS,
    status_changed_at: at(-minutesInEnding),
    ending_since: at(-minutesInEnding),
  });
  h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}`, namespace: NS, labels: { 'lab-id': lab.id } });
  return lab.id;
}

// What the system still in charge does: it ends a lab at a time of its own.
const theyEnd = (id: string, status: string, when: Date) =>
  q(`update labs set status = $2, status_changed_at = $3 where id = $1`, [id, status, when]);

describe('shadow mode', () => {
  it('records every decision as shadow, changes nothing, and the report lists exactly the seeded disagreements', async () => {
    const t0 = h.clock.now();
    const minutes = (n: number) => new Date(t0.getTime() + n * 60_000);
    const agreed = await endingLab(60);
    const stillLive = await endingLab(60);
    const later = await endingLab(60);
    const otherEnd = await endingLab(60);
    const theyOnly = await endingLab(20);
    const before = await snapshot();

    const first = await h.schedule(endingWatchdog);
    expect(first).toMatchObject({ outcome: 'succeeded', summary: { selected: 4, shadow: 4, finished: 0, claimed: 0 } });
    expect(first.message).toMatch(/shadow mode: 4 decision\(s\), 4 new recorded, nothing acted on/);
    h.clock.advanceMinutes(1);
    const byHand = await h.manual(endingWatchdog, { labId: otherEnd, action: 'fail' });
    // fail where the scheduled run decided force: a different decision, recorded.
    expect(byHand.summary).toMatchObject({ shadow: 1, shadow_recorded: 1 });
    // Nothing changed: every lab row as it was (no claim, no status), every pod still there.
    expect(await snapshot()).toEqual(before);
    expect(h.sim.kube.list('pods', NS)).toHaveLength(5);
    const logged = await q(
      `select entity_id, action, outcome from decision_log where run_id = any($1::uuid[]) order by entity_id`,
      [[first.runId, byHand.runId]],
    );
    expect(logged.every((row) => row.outcome === 'shadow')).toBe(true);
    expect(logged).toHaveLength(5);

    await theyEnd(agreed, 'finished', minutes(2));
    await theyEnd(otherEnd, 'finished', minutes(5));
    await theyEnd(theyOnly, 'finished', minutes(12));
    h.clock.set(minutes(15));
    // stillLive and later again, 15 minutes older: the same decisions (only the age in the reason moved), not recorded.
    expect((await h.schedule(endingWatchdog)).summary).toMatchObject({ shadow: 2, shadow_recorded: 0 });
    await theyEnd(later, 'finished', minutes(30));
    h.clock.set(minutes(40));

    const reports = await buildShadowReport(h.deps.pool, {
      since: minutes(-60),
      until: h.clock.now(),
      toleranceSeconds: 900,
      watchdogOlderThanMinutes: 30,
    });
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(report).toMatchObject({
      fn: 'ending-watchdog',
      observedFrom: t0.toISOString(),
      compared: 4,
      agreed: 1,
      pending: 0,
    });
    const seen = report!.disagreements.map((d) => [
      d.kind,
      d.entity.id,
      d.ours?.action ?? null,
      d.theirs.status,
      d.theirs.statusChangedAt,
    ]);
    expect(seen).toEqual([
      ['we-would-act', stillLive, 'force', 'ending', minutes(-60).toISOString()],
      ['they-acted', theyOnly, null, 'finished', minutes(12).toISOString()],
      ['different-end', otherEnd, 'fail', 'finished', minutes(5).toISOString()],
      ['they-acted-later', later, 'force', 'finished', minutes(30).toISOString()],
    ]);
    const live = report!.disagreements[0]!;
    expect(live.ours).toMatchObject({
      decisions: 1,
      firstDecidedAt: t0.toISOString(),
      reason: 'in ENDING for 60.0 minutes',
      inputs: { namespace: NS, destructive: true },
    });

    const text = formatShadowReport(reports);
    expect(text).toContain('4 row(s) we would have ended, 1 agree, 0 too recent to tell, 4 disagreement(s)');
    expect(text).toContain(`lab ${stillLive}: we would have ended it; it is still live`);
    expect(text).toContain(
      `lab ${theyOnly}: they ended it; we would not have\n    ours: no decision\n    theirs: finished since ${minutes(12).toISOString()}`,
    );
  });

  it('a decision within the tolerance is too early to call; a window without shadow runs says so', async () => {
    const id = await endingLab(90);
    const run = await h.schedule(endingWatchdog);
    expect(run.summary.shadow).toBeGreaterThanOrEqual(1);
    h.clock.advanceMinutes(5);
    const [report] = await buildShadowReport(h.deps.pool, {
      fn: 'ending-watchdog',
      since: new Date(h.clock.now().getTime() - 6 * 60_000),
      until: h.clock.now(),
      toleranceSeconds: 900,
      watchdogOlderThanMinutes: 30,
    });
    expect(report!.disagreements.filter((d) => d.entity.id === id)).toEqual([]);
    expect(report!.pending).toBeGreaterThanOrEqual(1);
    const [none] = await buildShadowReport(h.deps.pool, {
      fn: 'expire',
      since: new Date(h.clock.now().getTime() - 60_000),
      until: h.clock.now(),
      toleranceSeconds: 900,
      watchdogOlderThanMinutes: 30,
    });
    expect(formatShadowReport([none!])).toMatch(/^expire: no shadow run between/);
  });

  it('parses its flags and refuses bad ones', () => {
    expect(parseShadowArgs(['--since', '24h', '--fn', 'expire', '--json'])).toEqual({
      sinceSeconds: 86_400,
      toleranceSeconds: 900,
      fn: 'expire',
      json: true,
    });
    expect(() => parseShadowArgs(['--since', 'yesterday'])).toThrow(/--since must be a duration/);
    expect(() => parseShadowArgs(['--fn', 'nope'])).toThrow(/unknown function/);
  });
});
