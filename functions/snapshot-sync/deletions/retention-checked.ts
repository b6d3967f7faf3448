/*
 * After the run's deletions: disks whose completed snapshots are now within retention are marked
 * checked for this retention count, so the next runs do not read them again; a disk still over is
 * kept due. Its own stage, so it reads the rows as they are once every deletion has finished.
 */
import { markRetentionChecked } from '../../../shared/db/queries/disks.js';
import type { Action, Plan } from '../../../shared/plan.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { SyncDeps } from '../ec2-calls.js';

type MarkChecked = Action & { kind: 'mark-retention-checked'; upkeep: true; retentionCount: number };

export const loadRetentionCount = ({ deps }: LoadInput<BaseOptions, SyncDeps>): Promise<number> =>
  Promise.resolve(Math.max(1, deps.config.policy.snapshotRetentionCount));

export function decideRetentionChecked(retentionCount: number): Plan<MarkChecked> {
  const reason = `disks within the newest ${retentionCount} snapshot(s) are checked until the setting changes`;
  return {
    actions: [
      {
        kind: 'mark-retention-checked',
        upkeep: true,
        retentionCount,
        entity: { kind: 'function', id: 'snapshot-sync' },
        reason,
      },
    ],
  };
}

async function markChecked(run: Run, action: MarkChecked): Promise<ActionResult> {
  const checked = await run.commit(async (db) => ({ value: await markRetentionChecked(db, action.retentionCount) }));
  return { outcome: 'applied', counts: { retention_disks_checked: checked }, metrics: [] };
}

export const retentionCheckedExecutors: Executors<MarkChecked, SyncDeps> = { 'mark-retention-checked': markChecked };
