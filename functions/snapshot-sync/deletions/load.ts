/*
 * Snapshot deletions, read-only: deletions an earlier run left unfinished (`deleting`), the purge
 * of soft-deleted disks whose date has passed, retention per disk, and what EC2 says of each
 * snapshot. The run's deletion limit is the SNAPSHOT_DELETE_BUDGET setting.
 */
import { purgeDue, retentionCandidates } from '../../../shared/db/queries/disks.js';
import { unfinishedDeletions } from '../../../shared/db/queries/snapshots.js';
import type { DeletedRow } from '../../../shared/db/queries/snapshots.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { Observed, PurgeRow, RetentionRow } from '../decide-deletions.js';
import type { SyncDeps } from '../ec2-calls.js';
import { observeSnapshots } from '../observe.js';

export interface DeletionLoad {
  now: Date;
  deleteLimit: number;
  retentionCount: number;
  unfinished: DeletedRow[];
  purge: { rows: PurgeRow[]; observed?: Observed };
  retention: { rows: RetentionRow[]; observed?: Observed };
}

export async function loadDeletions({ run, deps, limit }: LoadInput<BaseOptions, SyncDeps>): Promise<DeletionLoad> {
  const { policy } = deps.config;
  const deleteLimit = policy.snapshotDeleteBudget;
  const retentionCount = Math.max(1, policy.snapshotRetentionCount);
  const now = run.now();
  const unfinished = deleteLimit > 0 ? await unfinishedDeletions(deps.pool, Math.min(deleteLimit, limit)) : [];
  const purgeRows = (await purgeDue(deps.pool, now.toISOString().slice(0, 10), limit)).map((row): PurgeRow => ({
    rowId: row.id,
    snapshotId: row.snapshot_id,
    userId: row.user_id,
    diskName: row.disk_name,
    deleteAfter: row.delete_after,
    diskDeleted: row.disk_deleted,
    diskDeleteDate: row.disk_delete_date,
  }));
  const retentionRows = (await retentionCandidates(deps.pool, retentionCount, limit * (retentionCount + 1))).map(
    (row): RetentionRow => ({
      rowId: row.id,
      diskId: row.disk_id,
      snapshotId: row.snapshot_id,
      userId: row.user_id,
      diskName: row.disk_name,
      startedAt: row.started_at,
    }),
  );
  return {
    now,
    deleteLimit,
    retentionCount,
    unfinished,
    purge: await observedRows(run, deps, purgeRows, (row) => row.rowId),
    // Retention keeps the newest of a disk: a disk is decided on all its rows or not at all.
    retention: await observedRows(run, deps, retentionRows, (row) => row.diskId),
  };
}

/**
 * The rows with what EC2 said of their snapshots. A row whose snapshot was not asked for (the run's
 * pace stopped the reads) is left for a later run, with every row of its `groupOf`.
 */
async function observedRows<R extends { snapshotId: string }>(
  run: Run,
  deps: SyncDeps,
  rows: R[],
  groupOf: (row: R) => string,
): Promise<{ rows: R[]; observed?: Observed }> {
  if (rows.length === 0) return { rows };
  const seen = await observeSnapshots(
    run,
    deps,
    rows.map((row) => row.snapshotId),
  );
  if (!seen) return { rows };
  const unread = new Set(rows.filter((row) => seen.unread.has(row.snapshotId)).map(groupOf));
  return { rows: rows.filter((row) => !unread.has(groupOf(row))), observed: seen };
}
