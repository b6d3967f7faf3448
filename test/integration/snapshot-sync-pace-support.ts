/*
 * A slow EC2 for the paced-read tests: a scheduled snapshot-sync run whose clock follows the calls
 * the simulator has answered, each costing the run what the test says. The deadline then passes
 * between two reads, at a call the test picks, with no wall-clock time involved.
 */
import { randomUUID } from 'node:crypto';
import { snapshotSync } from '../../functions/snapshot-sync/handler.js';
import { ManualClock } from '../../shared/clock.js';
import type { RunResult } from '../../shared/runtime/invocation.js';
import type { AwsCall } from '../../sim/aws/index.js';
import type { TestDatabase } from '../support/database.js';
import type { SyncHarness } from './snapshot-sync-harness.js';

/** Hundreds of rows seeded and acted on: more than the default test time on a busy machine. */
export const SLOW_TEST_MS = 60_000;

/** Seconds of the run's budget a call costs. */
export type CallCost = (call: AwsCall) => number;

/** A scheduled run with `budgetSeconds`, on an EC2 where each call made during the run costs `costOf` of it. */
export function runOnSlowEc2(h: SyncHarness, budgetSeconds: number, costOf: CallCost): Promise<RunResult> {
  const start = h.clock.now().getTime();
  const before = h.aws.sim.calls().length;
  const spent = () =>
    h.aws.sim
      .calls()
      .slice(before)
      .reduce((sum, call) => sum + costOf(call), 0);
  // A ManualClock, so the rails leave it alone, whose readings follow the calls.
  const clock = new ManualClock();
  clock.now = () => new Date(start + spent() * 1000);
  const deps = { ...h.deps, run: { ...h.deps.run, clock, budgetSeconds } };
  return snapshotSync.handle(
    { kind: 'schedule', source: 'cron-connector', callId: randomUUID(), options: { dryRun: false } },
    deps,
  );
}

/** The calls of one EC2 action the simulator has answered since its last clear, optionally only those `matching`. */
export function callsOf(h: SyncHarness, action: string, matching: (call: AwsCall) => boolean = () => true): AwsCall[] {
  return h.aws.sim.calls().filter((call) => call.action === action && matching(call));
}

/** The values of a call's numbered parameter list (`VolumeId.1`, `VolumeId.2`, ... for `VolumeId`). */
export function listParam(call: AwsCall, name: string): string[] {
  const pattern = new RegExp(`^${name.replace(/\./g, '\\.')}\\.\\d+$`);
  return Object.entries(call.params)
    .filter(([key]) => pattern.test(key))
    .map(([, value]) => value);
}

/** Every row of the tables a paced read must leave alone when it does not read, for before/after comparison. */
export async function syncState(db: TestDatabase) {
  const query = async (sql: string) => (await db.pool.query(sql)).rows;
  return {
    snapshots: await query('select * from snapshots order by id'),
    disks: await query('select * from disks order by disk_id'),
    waits: await query('select * from snapshot_sync_waits order by wait_key'),
    decisions: await query('select entity_kind, entity_id, action from decision_log order by id'),
  };
}
