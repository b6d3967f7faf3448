/*
 * ending-watchdog on ambiguous evidence (issue 14): an API outage never ends a lab. The lab stays
 * ENDING with its attempts counted in the database, later runs retry it, the alert fires after
 * WATCHDOG_UNKNOWN_ATTEMPTS_ALERT attempts (metric, decision log), and a lab that keeps failing to
 * verify does not keep the others from their turn.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

const h = useFunctionHarness({ WATCHDOG_UNKNOWN_ATTEMPTS_ALERT: '3' });
const NS = 'octolab-labs';
const ago = (minutes: number) => new Date(h.clock.now().getTime() - minutes * 60_000);

async function endingLab(minutesInEnding: number) {
  const lab = await insertLab(h.deps.pool, {
    status: 'ending',
    status_changed_at: ago(minutesInEnding),
    ending_since: ago(minutesInEnding),
    namespace: NS,
  });
  h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}-vm`, namespace: NS, labels: { 'lab-id': lab.id } });
  return lab;
}

const labRow = async (id: string) =>
  (
    await h.deps.pool.query(
      'select status, claimed_by, watchdog_unknown_attempts, watchdog_last_error from labs where id = $1',
      [id],
    )
  ).rows[0];
const podsOf = (id: string) => h.sim.kube.list('pods', NS).filter((p) => p.metadata.labels?.['lab-id'] === id);
const decisions = async (id: string) =>
  (await h.deps.pool.query(`select action, outcome from decision_log where entity_id = $1 order by id`, [id])).rows;
const alerts = async () =>
  (await h.deps.metrics.actions.get()).values.find(
    (v) => v.labels.function === 'ending-watchdog' && v.labels.outcome === 'unknown_alert',
  )?.value ?? 0;

beforeEach(async () => {
  h.sim.faults.clear();
  await h.deps.pool.query('delete from labs');
  for (const pod of h.sim.kube.list('pods', NS))
    h.sim.kube.deleteBehindOurBack({ namespace: NS, name: pod.metadata.name });
});

describe('ending-watchdog: an API outage is unknown, never an end', () => {
  it('does NOT mark the lab failed on a 500 from the cluster; it stays ENDING and a later run finishes it', async () => {
    const lab = await endingLab(60);
    h.sim.faults.add({ path: /\/namespaces\/octolab-labs\/pods/, status: 500 });
    const first = await h.schedule(endingWatchdog);
    expect(first).toMatchObject({ outcome: 'failed', summary: { unknown: 1, failed: 0, finished: 0 } });
    expect(await labRow(lab.id)).toMatchObject({
      status: 'ending',
      claimed_by: null,
      watchdog_unknown_attempts: 1,
      watchdog_last_error: expect.stringMatching(/500/),
    });
    expect(podsOf(lab.id)).toHaveLength(1);
    const { rows: events } = await h.deps.pool.query(`select type from event_outbox where subject = $1`, [lab.id]);
    expect(events).toEqual([]);

    h.sim.faults.clear();
    h.clock.advanceSeconds(600);
    expect((await h.schedule(endingWatchdog)).summary).toMatchObject({ finished: 1 });
    expect((await labRow(lab.id)).status).toBe('finished');
    expect(podsOf(lab.id)).toHaveLength(0);
  });

  it('fires the alert from the configured attempt on: metric and decision log, with the lab still ENDING', async () => {
    const lab = await endingLab(60);
    h.sim.faults.add({ method: 'GET', path: /\/namespaces\/octolab-labs\/pods/, status: 503 });
    const before = await alerts();
    for (let run = 1; run <= 4; run++) {
      const result = await h.schedule(endingWatchdog);
      expect(result.summary.unknown_alerts ?? 0).toBe(run >= 3 ? 1 : 0);
      h.clock.advanceSeconds(600);
    }
    expect(await alerts()).toBe(before + 2);
    expect(await decisions(lab.id)).toEqual([
      { action: 'force:unknown', outcome: 'skipped' },
      { action: 'force:unknown', outcome: 'skipped' },
      { action: 'force:unknown-alert', outcome: 'skipped' },
      { action: 'force:unknown-alert', outcome: 'skipped' },
    ]);
    expect(await labRow(lab.id)).toMatchObject({ status: 'ending', watchdog_unknown_attempts: 4 });
  });

  it('a lab that keeps failing to verify does not take the turn of the next one', async () => {
    const stuck = await endingLab(120);
    const next = await endingLab(60);
    h.sim.faults.add({ method: 'GET', path: new RegExp(`/namespaces/octolab-labs/pods\\?.*${stuck.id}`), status: 500 });
    await h.manual(endingWatchdog, { maxLabs: 1 });
    expect((await labRow(stuck.id)).status).toBe('ending');
    expect((await h.manual(endingWatchdog, { maxLabs: 1 })).summary).toMatchObject({ finished: 1 });
    expect((await labRow(next.id)).status).toBe('finished');
  });
});
