/*
 * snapshot-sync under faults and limits: throttling is retried and then reported (never swallowed,
 * never a reason to destroy anything), a hanging EC2 call is cut off, a dry run changes
 * nothing, maxItems and the time budget leave work for the next run.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { ManualClock } from '../../shared/clock.js';
import { decisionsFor } from '../../shared/db/queries/decisions.js';
import { seedTeardown, snapshotRows, useSyncHarness, useSyncHarnessOn } from './snapshot-sync-harness.js';

const { db, h } = useSyncHarness();

/** A clock whose readings the test scripts (a ManualClock, so the rails leave it alone). */
class ScriptedClock extends ManualClock {
  constructor(private readonly reading: () => Date) {
    super();
  }

  override now(): Date {
    return this.reading();
  }
}

/** The stages of a scheduled run: shutdown, origin, poll, volumes, tagging, deletions, retention checked. */
const STAGES = 7;

/** A scheduled run whose clock reads `now` and whose budget is `budgetSeconds`. */
function runAt(now: () => Date, budgetSeconds: number) {
  const deps = { ...h.deps, run: { ...h.deps.run, clock: new ScriptedClock(now), budgetSeconds } };
  return snapshotSync.handle(
    { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: { dryRun: false } },
    deps,
  );
}

const callsTo = (action: string) => h.aws.sim.calls().filter((call) => call.action === action).length;

/** A teardown whose snapshot completed a while ago: the next run would delete its volume. */
async function volumeDue() {
  const t = await seedTeardown(h, db);
  await h.run({ maxItems: 1 }); // creates the snapshot only
  h.clock.advanceMinutes(2);
  await h.run({ maxItems: 1 }); // completes it, leaves the volume
  return t;
}

describe('throttling', () => {
  it('is retried, and the run succeeds when a retry gets through', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.addFault({ service: 'ec2', action: 'CreateSnapshot', fault: { kind: 'throttle' } });
    expect(await h.run()).toMatchObject({ outcome: 'succeeded', summary: { snapshots_created: 1 } });
    expect(callsTo('CreateSnapshot')).toBe(2);
    expect(h.aws.sim.snapshots().filter((s) => s.volumeId === t.volumeId)).toHaveLength(1);
  });

  it('that never ends is reported as a failed run, and the volume is not deleted', async () => {
    const t = await volumeDue();
    h.aws.sim.addFault({ service: 'ec2', action: 'DescribeVolumes', times: 3, fault: { kind: 'throttle' } });
    h.aws.sim.clear();
    const result = await h.run();
    expect(result).toMatchObject({ outcome: 'failed', summary: { volumes_deleted: 0, actions_failed: 1 } });
    expect(result.message).toMatch(/RequestLimitExceeded/);
    expect(callsTo('DescribeVolumes')).toBe(3);
    expect(callsTo('DeleteVolume')).toBe(0);
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    expect(await snapshotRows(db)).toEqual([expect.objectContaining({ state: 'completed', volume_outcome: null })]);
    expect((await h.run()).summary).toMatchObject({ volumes_deleted: 1 });
  });

  it('on DeleteVolume is reported, kept in the decision log, and the volume stays', async () => {
    const t = await volumeDue();
    h.aws.sim.addFault({ service: 'ec2', action: 'DeleteVolume', times: 3, fault: { kind: 'throttle' } });
    expect(await h.run()).toMatchObject({ outcome: 'failed', summary: { volumes_deleted: 0 } });
    expect(h.aws.sim.volume(t.volumeId)).toBeDefined();
    const [decision] = await decisionsFor(db.pool, 'volume', t.volumeId, 1);
    expect(decision).toMatchObject({
      action: 'delete-volume',
      outcome: 'failed',
      error: expect.stringMatching(/RequestLimitExceeded/),
    });
    expect(await snapshotRows(db)).toEqual([expect.objectContaining({ volume_outcome: null })]);
  });

  it('on CreateSnapshot leaves the row requested and no snapshot behind; a later run makes exactly one', async () => {
    const t = await seedTeardown(h, db);
    h.aws.sim.addFault({ service: 'ec2', action: 'CreateSnapshot', times: 3, fault: { kind: 'throttle' } });
    expect(await h.runEvent(t.podCleaned)).toMatchObject({ outcome: 'failed' });
    expect(h.aws.sim.snapshots()).toEqual([]);
    expect(await snapshotRows(db)).toEqual([expect.objectContaining({ state: 'requested' })]);
    h.clock.advanceMinutes(6);
    expect((await h.run()).summary).toMatchObject({ snapshots_created: 1 });
    expect(h.aws.sim.snapshots()).toHaveLength(1);
  });

  it('while polling changes no snapshot state and no counter', async () => {
    const t = await seedTeardown(h, db);
    await h.runEvent(t.podCleaned);
    h.clock.advanceMinutes(2);
    h.aws.sim.addFault({ service: 'ec2', action: 'DescribeSnapshots', times: 20, fault: { kind: 'throttle' } });
    expect(await h.run()).toMatchObject({
      outcome: 'failed',
      summary: { snapshots_completed: 0, snapshots_failed: 0 },
    });
    expect(await snapshotRows(db)).toEqual([expect.objectContaining({ state: 'pending' })]);
  });
});

describe('a hanging EC2 call (A-21: no overall timeout in the origin)', () => {
  const slow = useSyncHarnessOn(db, {}, 250);

  it('is cut off by the per-call timeout and reported; the run ends promptly and deletes nothing', async () => {
    const t = await seedTeardown(slow, db);
    await slow.runEvent(t.podCleaned);
    slow.clock.advanceMinutes(2);
    slow.aws.sim.addFault({
      service: 'ec2',
      action: 'DescribeSnapshots',
      times: 3,
      fault: { kind: 'delay', delayMs: 5_000 },
    });
    const started = performance.now();
    const result = await slow.run();
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(result).toMatchObject({ outcome: 'failed', summary: { snapshots_completed: 0, volumes_deleted: 0 } });
    expect(slow.aws.sim.volume(t.volumeId)).toBeDefined();
  });
});

describe('a dry run', () => {
  const tables = [
    'snapshots',
    'snapshot_disk_sync',
    'disks',
    'reservations',
    'cleanup_progress',
    'event_inbox',
    'event_outbox',
    'decision_log',
  ];
  const state = async () => ({
    tables: await Promise.all(
      tables.map(async (table) => (await db.pool.query(`select * from ${table} order by 1`)).rows),
    ),
    volumes: h.aws.sim.volumes(),
    snapshots: h.aws.sim.snapshots(),
  });

  it('decides and reports, and changes nothing in the database or in EC2', async () => {
    const due = await volumeDue(); // its volume would be deleted
    const pending = await seedTeardown(h, db);
    await h.runEvent(pending.podCleaned);
    h.clock.advanceMinutes(2); // the pending snapshot would be completed
    const fresh = await seedTeardown(h, db); // would be snapshotted
    await db.pool.query(`update disks set is_deleted = true, delete_date = '2026-01-01' where disk_id = $1`, [
      due.diskId,
    ]);

    const before = await state();
    h.aws.sim.clear();
    const result = await h.run({ dryRun: true });
    const event = await h.runEvent(fresh.podCleaned, randomUUID(), { dryRun: true });
    expect(await state()).toEqual(before);
    expect(result.outcome).toBe('succeeded');
    expect(result.items?.map((item) => item.action).sort()).toEqual([
      'complete-snapshot',
      'create-snapshot',
      'delete-volume',
      'tag-for-deletion',
    ]);
    expect(event.items).toEqual([expect.objectContaining({ action: 'create-snapshot', volumeId: fresh.volumeId })]);
    expect(
      callsTo('CreateSnapshot') + callsTo('DeleteVolume') + callsTo('DeleteSnapshot') + callsTo('CreateTags'),
    ).toBe(0);
  });
});

describe('a stage that cannot load', () => {
  it('is reported as a failure, and the other stages still run', async () => {
    const t = await seedTeardown(h, db);
    // Only the deletion stages read snapshot_retention: the deletions' load fails (an action failure) and the
    // retention mark, upkeep, fails to be written; the shutdown stage before them does not.
    await db.pool.query('alter table snapshot_retention rename to snapshot_retention_away');
    try {
      const result = await h.run();
      expect(result).toMatchObject({
        outcome: 'failed',
        summary: { snapshots_created: 1, actions_failed: 1, upkeep_failed: 1 },
      });
      expect(result.message).toMatch(/stage delete-snapshots/);
      expect(h.aws.sim.snapshots().map((s) => s.volumeId)).toEqual([t.volumeId]);
    } finally {
      await db.pool.query('alter table snapshot_retention_away rename to snapshot_retention');
    }
  });
});

describe('limits', () => {
  it('maxItems caps the actions of a run; the rest waits for the next one', async () => {
    const teardowns = [await seedTeardown(h, db), await seedTeardown(h, db), await seedTeardown(h, db)];
    expect((await h.run({ maxItems: 2 })).summary).toMatchObject({ snapshots_created: 2 });
    expect((await h.run({ maxItems: 2 })).summary).toMatchObject({ snapshots_created: 1 });
    expect(
      h.aws.sim
        .snapshots()
        .map((s) => s.volumeId)
        .sort(),
    ).toEqual(teardowns.map((t) => t.volumeId).sort());
  });

  it("no stage starts after the run's deadline", async () => {
    await seedTeardown(h, db);
    const start = h.clock.now().getTime();
    let reads = 0;
    // The run starts at 0 s of a 10 s budget; every later look at the clock says the budget is spent.
    const report = await runAt(() => new Date(start + (reads++ === 0 ? 0 : 10_000)), 10);
    expect(report.summary).toMatchObject({ stages_deferred: STAGES, snapshots_created: 0 });
    expect(h.aws.sim.calls()).toEqual([]);
  });

  it("starts nothing after 80% of the run's budget, so what is under way ends inside it", async () => {
    await seedTeardown(h, db);
    const start = h.clock.now().getTime();
    let reads = 0;
    // The run starts at 0 s of a 10 s budget; every later look at the clock says 8.5 s.
    const report = await runAt(() => new Date(start + (reads++ === 0 ? 0 : 8_500)), 10);
    expect(report.summary).toMatchObject({ stages_deferred: STAGES, snapshots_created: 0 });
    expect(h.aws.sim.calls()).toEqual([]);
  });

  it("still starts everything before 80% of the run's budget", async () => {
    await seedTeardown(h, db);
    const start = h.clock.now().getTime();
    let reads = 0;
    const report = await runAt(() => new Date(start + (reads++ === 0 ? 0 : 7_500)), 10);
    expect(report.summary).toMatchObject({ snapshots_created: 1 });
    expect(report.summary.stages_deferred).toBeUndefined();
  });
});
