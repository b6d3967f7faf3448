/*
 * After the run's deletions: disks whose completed snapshots are now within retention are marked
 * checked for this retention count, so the next runs do not read them again; a disk still over is
 * kept due. Its own stage, so it reads the rows as they are once every deletion has finished.
 */
import { markRetentionChecked } from '../../../shared/db/queries/disks.js';
import type { Plan } from '../../../shared/plan.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { SyncDeps } from '../ec2-calls.js';

/** The stage is upkeep only (Plan.upkeep), not an item of work. */
export interface MarkChecked {
  kind: 'mark-retention-checked';
  retentionCount: number;
}

export const loadRetentionCount = ({ deps }: LoadInput<BaseOptions, SyncDeps>): Promise<number> =>
  Promise.resolve(Math.max(1, deps.config.policy.snapshotRetentionCount));

export function decideRetentionChecked(retentionCount: number): Plan<never, MarkChecked> {
  return { actions: [], upkeep: [{ kind: 'mark-retention-checked', retentionCount }] };
}

export async function markChecked(run: Run, item: MarkChecked): Promise<{ counts: Record<string, number> }> {
  const checked = await run.commit(async (db) => ({ value: await markRetentionChecked(db, item.retentionCount) }));
  return { counts: { retention_disks_checked: checked } };
}
