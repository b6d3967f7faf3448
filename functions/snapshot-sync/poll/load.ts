/* Polling, read-only: the pending snapshot rows, and what EC2 says of each id. */
import { pendingSnapshots } from '../../../shared/db/queries/snapshots.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { PendingRow } from '../decide.js';
import type { Observed } from '../decide-deletions.js';
import type { SyncDeps } from '../ec2-calls.js';
import { observeSnapshots } from '../observe.js';

export interface PollLoad {
  pending: PendingRow[];
  /** Undefined when EC2 could not be asked: nothing is decided. */
  observed?: Observed;
}

export async function loadPolls({ run, deps, limit }: LoadInput<BaseOptions, SyncDeps>): Promise<PollLoad> {
  const rows = await pendingSnapshots(deps.pool, limit);
  if (rows.length === 0) return { pending: [] };
  const observed = await observeSnapshots(
    run,
    deps,
    rows.map((row) => row.snapshot_id),
  );
  const pending = rows
    .filter((row) => !observed?.unread.has(row.snapshot_id))
    .map((row) => ({ rowId: row.id, snapshotId: row.snapshot_id, startedAt: row.started_at }));
  return { pending, ...(observed ? { observed } : {}) };
}
