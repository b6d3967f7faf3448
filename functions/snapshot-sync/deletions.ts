/*
 * Snapshot deletions of one run, within one budget (SNAPSHOT_DELETE_BUDGET): first deletions an
 * earlier run left unfinished, then the purge of soft-deleted disks whose date has passed (the
 * user asked for those), then retention per disk.
 */
import { markRetentionChecked, purgeDue, retentionCandidates } from '../../shared/db/queries/disks.js';
import { unfinishedDeletions } from '../../shared/db/queries/snapshots.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decidePurge, decideRetention } from './decide-deletions.js';
import type { DeletePlan, Observed } from './decide-deletions.js';
import { executeDeletion, finishDeletion } from './delete-execute.js';
import { observeSnapshots } from './observe.js';

export async function deleteSnapshots(ctx: SyncContext): Promise<void> {
  let budget = ctx.deps.config.policy.snapshotDeleteBudget;
  budget -= await finishUnfinished(ctx, budget);
  budget -= await purge(ctx, budget);
  await retain(ctx, budget);
}

async function finishUnfinished(ctx: SyncContext, budget: number): Promise<number> {
  if (budget <= 0 || ctx.dryRun) return 0;
  const rows = await unfinishedDeletions(ctx.deps.pool, Math.min(budget, ctx.scope.maxItems));
  await mapWithConcurrency(rows, ctx.concurrency, async (row) => {
    if (!ctx.take()) return;
    await finishDeletion(ctx, row.id, row.snapshot_id)
      .catch((err: unknown) => ctx.failAction('delete-snapshot', { entityKind: 'snapshot', entityId: row.snapshot_id }, err));
  });
  return rows.length;
}

async function purge(ctx: SyncContext, budget: number): Promise<number> {
  const today = ctx.now().toISOString().slice(0, 10);
  const rows = await purgeDue(ctx.deps.pool, today, ctx.scope.maxItems);
  const observed = await observe(ctx, rows.map((row) => row.snapshot_id));
  if (!observed) return 0;
  const plan = decidePurge({
    now: ctx.now(),
    observed,
    budget,
    rows: rows.map((row) => ({
      rowId: row.id, snapshotId: row.snapshot_id, userId: row.user_id, diskName: row.disk_name,
      deleteAfter: row.delete_after, diskDeleted: row.disk_deleted, diskDeleteDate: row.disk_delete_date,
    })),
  });
  return carryOut(ctx, plan);
}

async function retain(ctx: SyncContext, budget: number): Promise<void> {
  const keep = Math.max(1, ctx.deps.config.policy.snapshotRetentionCount);
  const rows = await retentionCandidates(ctx.deps.pool, keep, ctx.scope.maxItems * (keep + 1));
  const observed = await observe(ctx, rows.map((row) => row.snapshot_id));
  if (observed) {
    const plan = decideRetention({
      observed,
      budget,
      retentionCount: keep,
      rows: rows.map((row) => ({ rowId: row.id, diskId: row.disk_id, snapshotId: row.snapshot_id, userId: row.user_id, diskName: row.disk_name, startedAt: row.started_at })),
    });
    await carryOut(ctx, plan);
  }
  // Counted from the rows as they are now, after this run's deletions: a disk still over is kept due.
  if (!ctx.dryRun) ctx.count('retention_disks_checked', await markRetentionChecked(ctx.deps.pool, keep));
}

async function observe(ctx: SyncContext, snapshotIds: string[]): Promise<Observed | undefined> {
  return snapshotIds.length === 0 ? undefined : observeSnapshots(ctx, snapshotIds);
}

/** Returns how much of the deletion budget the plan used. */
async function carryOut(ctx: SyncContext, plan: DeletePlan): Promise<number> {
  if (plan.deferred > 0) ctx.count('deferred_delete_budget', plan.deferred);
  await mapWithConcurrency(plan.actions, ctx.concurrency, (action) => executeDeletion(ctx, action));
  return plan.actions.filter((action) => action.kind === 'delete-snapshot').length;
}
