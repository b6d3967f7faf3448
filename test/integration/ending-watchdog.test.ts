/* ending-watchdog end to end against the simulated cluster, with a real database. */
import { beforeEach, describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { watchdogOptionsSchema } from '../../functions/ending-watchdog/options.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';

const h = useFunctionHarness();
const NS = 'octolab-labs';
const ago = (minutes: number) => new Date(h.clock.now().getTime() - minutes * 60_000);

async function endingLab(minutesInEnding: number, resources = 2) {
  const lab = await insertLab(h.deps.pool, {
    status: 'ending',
    status_changed_at: ago(minutesInEnding),
    ending_since: ago(minutesInEnding),
    namespace: NS,
    novnc_host_port: 6000 + Math.floor(Math.random() * 3000),
  });
  for (let index = 0; index < resources; index++)
    h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}-${index}`, namespace: NS, labels: { 'lab-id': lab.id } });
  h.sim.kube.addService({ name: `lab-${lab.id.slice(0, 8)}-vnc`, namespace: NS, labels: { 'lab-id': lab.id } });
  return lab;
}

const labStatus = async (id: string) =>
  (
    await h.deps.pool.query(
      'select status, finished_at, evidence_expires_at, novnc_host_port, claimed_by from labs where id = $1',
      [id],
    )
  ).rows[0];
const remaining = (id: string) =>
  [...h.sim.kube.list('pods', NS), ...h.sim.kube.list('services', NS)].filter(
    (o) => o.metadata.labels?.['lab-id'] === id,
  );

beforeEach(async () => {
  h.sim.faults.clear();
  await h.deps.pool.query('delete from labs');
});

describe('ending-watchdog', () => {
  it('force-finishes labs stuck past the limit, oldest first, after verifying the teardown', async () => {
    const old = await endingLab(90);
    const fresh = await endingLab(5);
    const result = await h.schedule(endingWatchdog);
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { finished: 1 } });
    expect(remaining(old.id)).toEqual([]);
    expect(await labStatus(old.id)).toEqual({
      status: 'finished',
      finished_at: h.clock.now(),
      evidence_expires_at: new Date(h.clock.now().getTime() + 86_400_000),
      novnc_host_port: null,
      claimed_by: null,
    });
    expect((await labStatus(fresh.id)).status).toBe('ending');
    expect(remaining(fresh.id)).toHaveLength(3);
  });

  it('neither finishes (B-4) nor fails a lab whose teardown cannot be verified: it stays ENDING, and the run reports failed', async () => {
    const lab = await endingLab(60);
    h.sim.faults.add({ method: 'GET', path: /\/namespaces\/octolab-labs\/services/, status: 503 });
    const result = await h.schedule(endingWatchdog);
    expect(result).toMatchObject({ outcome: 'failed', summary: { unknown: 1, finished: 0, failed: 0 } });
    expect(await labStatus(lab.id)).toMatchObject({ status: 'ending', claimed_by: null });
  });

  it('lists what it would do in a dry run with masked owners, and claims and changes nothing (B-11)', async () => {
    const lab = await endingLab(45.25);
    const result = await h.manual(endingWatchdog, { dryRun: true });
    expect(result.items).toEqual([
      { labId: lab.id, owner: `****${lab.owner_id.slice(-6)}`, ageMinutes: '45.3', action: 'force' },
    ]);
    expect(await labStatus(lab.id)).toMatchObject({ status: 'ending', claimed_by: null });
    expect(remaining(lab.id)).toHaveLength(3);
  });

  it('takes one lab by id regardless of age; action=fail only marks failed', async () => {
    const lab = await endingLab(1);
    await h.manual(endingWatchdog, { labId: lab.id, action: 'fail' });
    expect((await labStatus(lab.id)).status).toBe('failed');
    expect(remaining(lab.id)).toHaveLength(3);
  });

  it.each([
    [{ olderThanMinutes: -5 }, 'olderThanMinutes'],
    [{ olderThanMinutes: 0 }, 'olderThanMinutes'],
    [{ maxLabs: -1 }, 'maxLabs'],
    [{ action: 'explode' }, 'action'],
    [{ labId: 'not-a-uuid' }, 'labId'],
  ])('refuses %j (B-12)', (options, field) => {
    const parsed = watchdogOptionsSchema.safeParse(options);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual([field]);
  });

  it('does not touch a lab another watchdog holds a lease on', async () => {
    const lab = await endingLab(60);
    await h.deps.pool.query(`update labs set claimed_by = 'other-run', claim_expires_at = $2 where id = $1`, [
      lab.id,
      new Date(h.clock.now().getTime() + 60_000),
    ]);
    const result = await h.schedule(endingWatchdog);
    expect(result.summary).toMatchObject({ selected: 1, claimed: 0 });
    expect(remaining(lab.id)).toHaveLength(3);
  });
});
