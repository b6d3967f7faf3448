/*
 * ending-watchdog under concurrency, against the simulated cluster and a real database: two
 * instances at once (the scheduled run and an operator's manual run, each with its own pool) never
 * process the same lab; a crash after claiming leaves a lease that expires, and the lab is picked
 * up again; a lab that left ENDING while the watchdog worked is not overwritten; a lab whose
 * resources cannot be deleted stays ENDING; a dry run neither waits for nor takes a row lock.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { endingWatchdog } from '../../functions/ending-watchdog/handler.js';
import { watchdogOptionsSchema } from '../../functions/ending-watchdog/options.js';
import { claimLabs } from '../../shared/db/queries/labs.js';
import { makeDeps } from '../../shared/deps.js';
import { createLogger } from '../../shared/log.js';
import { useFunctionHarness } from '../support/function-harness.js';
import { insertLab } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';

const h = useFunctionHarness();
const NS = 'octolab-labs';
const ago = (minutes: number) => new Date(h.clock.now().getTime() - minutes * 60_000);
let port = 7000;

async function endingLab(minutesInEnding = 60) {
  port += 1;
  const lab = await insertLab(h.deps.pool, {
    status: 'ending',
    status_changed_at: ago(minutesInEnding),
    ending_since: ago(minutesInEnding),
    namespace: NS,
    novnc_host_port: port,
  });
  for (let index = 0; index < 2; index++)
    h.sim.kube.addPod({ name: `lab-${lab.id.slice(0, 8)}-${index}`, namespace: NS, labels: { 'lab-id': lab.id } });
  return lab;
}

const labRow = async (id: string) =>
  (
    await h.deps.pool.query('select status, claimed_by, claim_expires_at, novnc_host_port from labs where id = $1', [
      id,
    ])
  ).rows[0];
const remaining = (id: string) => h.sim.kube.list('pods', NS).filter((o) => o.metadata.labels?.['lab-id'] === id);
const decisions = async (id: string) =>
  (
    await h.deps.pool.query<{ action: string; outcome: string }>(
      'select action, outcome from decision_log where entity_id = $1 order by id',
      [id],
    )
  ).rows;
const podDeletes = (id: string) =>
  h.sim.requests.all().filter((r) => r.method === 'DELETE' && r.path.includes(`/pods/lab-${id.slice(0, 8)}-`));

beforeEach(async () => {
  h.sim.faults.clear();
  h.sim.requests.clear();
  await h.deps.pool.query('delete from labs');
});

describe('ending-watchdog under concurrency', () => {
  it('two instances at once never process the same lab', async () => {
    const labs = await Promise.all(Array.from({ length: 6 }, () => endingLab()));
    // Slow deletions, so the two runs are certainly working at the same time.
    h.sim.faults.add({ method: 'DELETE', path: /\/namespaces\/octolab-labs\/pods\//, delayMs: 60 });
    const log = createLogger({
      level: 'silent',
      hashSalt: 's',
      destination: new Writable({ write: (_c, _e, done) => done() }),
    });
    const other = makeDeps(h.deps.config, { clock: h.clock, log });
    try {
      const [scheduled, manual] = await Promise.all([
        h.schedule(endingWatchdog),
        endingWatchdog.handle(
          { kind: 'manual', callId: randomUUID(), options: watchdogOptionsSchema.parse({}) },
          other,
        ),
      ]);
      expect(scheduled.summary.selected).toBe(6);
      expect(manual.summary.selected).toBe(6);
      expect(scheduled.summary.claimed! + manual.summary.claimed!).toBe(6);
      expect(scheduled.summary.conflicts! + manual.summary.conflicts!).toBe(0);
    } finally {
      await other.close();
    }
    for (const lab of labs) {
      expect(await decisions(lab.id)).toEqual([{ action: 'force:finished', outcome: 'applied' }]);
      expect(podDeletes(lab.id)).toHaveLength(2);
      expect((await labRow(lab.id)).status).toBe('finished');
    }
  });

  it('a crash after claiming leaves a lease that expires, and then the lab is picked up again', async () => {
    const lab = await endingLab();
    // What a run that died right after its claim committed leaves behind.
    expect(
      await claimLabs(h.deps.pool, [lab.id], 'crashed-run', h.clock.now(), h.deps.config.policy.labLeaseSeconds),
    ).toEqual([lab.id]);
    const during = await h.schedule(endingWatchdog);
    expect(during.summary).toMatchObject({ selected: 1, claimed: 0, finished: 0 });
    expect(remaining(lab.id)).toHaveLength(2);
    expect((await labRow(lab.id)).claimed_by).toBe('crashed-run');

    h.clock.advanceSeconds(h.deps.config.policy.labLeaseSeconds - 1);
    expect((await h.schedule(endingWatchdog)).summary).toMatchObject({ claimed: 0 });
    h.clock.advanceSeconds(2);
    expect((await h.schedule(endingWatchdog)).summary).toMatchObject({ claimed: 1, finished: 1 });
    expect(await labRow(lab.id)).toMatchObject({
      status: 'finished',
      claimed_by: null,
      claim_expires_at: null,
      novnc_host_port: null,
    });
    expect(remaining(lab.id)).toEqual([]);
  });

  it('does not overwrite a lab that left ENDING while it was tearing it down', async () => {
    const lab = await endingLab();
    h.sim.faults.add({ method: 'DELETE', path: /\/namespaces\/octolab-labs\/pods\//, delayMs: 300 });
    const run = h.schedule(endingWatchdog);
    await eventually(async () => (await labRow(lab.id)).claimed_by !== null, 'the claim');
    // Another writer (the platform's own teardown worker) ends the lab meanwhile; no lock stops it.
    await h.deps.pool.query(`update labs set status = 'failed', finished_at = $2 where id = $1`, [
      lab.id,
      h.clock.now(),
    ]);
    const result = await run;
    expect(result.summary).toMatchObject({ claimed: 1, finished: 0, conflicts: 1 });
    expect((await labRow(lab.id)).status).toBe('failed');
    expect(await decisions(lab.id)).toEqual([{ action: 'force:finished', outcome: 'conflict' }]);
  });

  it('leaves a lab whose resources cannot be deleted in ENDING, never finished nor failed, and reports the run failed', async () => {
    const lab = await endingLab();
    h.sim.faults.add({ method: 'DELETE', path: /\/namespaces\/octolab-labs\/pods\//, status: 403 });
    const result = await h.schedule(endingWatchdog);
    expect(result.outcome).toBe('failed');
    expect(remaining(lab.id)).toHaveLength(2);
    expect((await labRow(lab.id)).status).toBe('ending');
    expect(await decisions(lab.id)).toEqual([{ action: 'force:unknown', outcome: 'skipped' }]);
  });

  it('a dry run lists a lab another session holds a row lock on, without waiting for the lock', async () => {
    const lab = await endingLab();
    const holder = await h.deps.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from labs where id = $1 for update', [lab.id]);
      // A locking select would wait here until lock_timeout, or skip the lab (origin bug B-11).
      const result = await h.manual(endingWatchdog, { dryRun: true });
      expect(result.items).toEqual([expect.objectContaining({ labId: lab.id })]);
    } finally {
      await holder.query('rollback');
      holder.release();
    }
    expect(await labRow(lab.id)).toMatchObject({ status: 'ending', claimed_by: null });
  });
});
