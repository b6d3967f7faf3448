/*
 * Adopting the origin's snapshots of a disk and counting them on it, in one commit, under the
 * disk's pending count as read (compare-and-set); a completed or failed one is credited at once.
 * Another run that adopted or counted some of them first makes this one a conflict: nothing is
 * changed and the next run reads again.
 */
import { adoptSnapshots, countSnapshotFinished, lockDiskCount } from '../../../shared/db/queries/disks.js';
import { countPendingOnDisk } from '../../../shared/db/queries/snapshots.js';
import type { Db } from '../../../shared/db/pool.js';
import { Conflict } from '../../../shared/errors.js';
import type { ActionResult, Executors } from '../../../shared/runtime/execute.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { SyncDeps } from '../ec2-calls.js';
import type { ReconcileStep } from './decide.js';

export const originExecutors: Executors<ReconcileStep, SyncDeps> = { 'reconcile-origin-pending': reconcileDisk };

async function reconcileDisk(run: Run, step: ReconcileStep): Promise<ActionResult> {
  const { rule } = step;
  let result: Reconciled | undefined;
  try {
    result = await run.commit(async (db) => {
      const outcome = (await lockDiskCount(db, rule.disk.diskId, rule.disk.pendingCount))
        ? await reconcile(db, rule, run.now())
        : undefined;
      const decision = {
        entityKind: 'disk' as const,
        entityId: rule.disk.diskId,
        action: step.kind,
        reason: rule.reason,
        outcome: outcome ? ('applied' as const) : ('conflict' as const),
      };
      return { value: outcome, decisions: [decision] };
    });
  } catch (err) {
    if (!(err instanceof Conflict)) throw err;
  }
  if (!result) return { outcome: 'conflict', metrics: ['skipped'] };
  const counts = { origin_snapshots_adopted: result.adopted, origin_snapshots_credited: result.credited };
  return {
    outcome: 'applied',
    counters: [rule.unexplainedAfter > 0 ? 'disks_backing_up_unexplained' : 'synced_disks'],
    counts,
  };
}

interface Reconciled {
  adopted: number;
  credited: number;
}

async function reconcile(db: Db, rule: ReconcileStep['rule'], now: Date): Promise<Reconciled> {
  const { disk } = rule;
  const counted = await countPendingOnDisk(
    db,
    disk.diskId,
    rule.count.map((row) => row.rowId),
  );
  if (counted !== rule.count.length) throw new Conflict(`disk ${disk.diskId}: a snapshot was counted by another run`);
  const found = rule.adopt.map((s) => ({
    snapshotId: s.snapshotId,
    volumeId: s.volumeId,
    state: s.state as 'pending' | 'completed' | 'error',
    sizeGb: s.sizeGb,
    startTime: s.startTime,
  }));
  const adopted = await adoptSnapshots(
    db,
    { disk_id: disk.diskId, user_id: disk.userId, disk_name: disk.diskName },
    found,
    now,
    true,
  );
  if (adopted.length !== found.length) throw new Conflict(`disk ${disk.diskId}: a snapshot was adopted by another run`);
  for (const row of adopted.filter((r) => r.state !== 'pending')) {
    const completed = row.state === 'completed';
    await countSnapshotFinished(db, disk.diskId, {
      wasCounted: true,
      completed,
      sizeGb: completed ? row.size_gb : null,
      at: now,
    });
  }
  return { adopted: adopted.length + counted, credited: adopted.filter((r) => r.state !== 'pending').length };
}
