/*
 * Snapshot deletions' plan, pure: first the deletions an earlier run left unfinished, then the
 * purge of soft-deleted disks whose date has passed (the user asked for those), then retention per
 * disk (the rules in ../decide-deletions.ts), all within the run's deletion limit. Every deletion is
 * destructive, so the rails weigh it; a snapshot is deleted only when EC2 has just confirmed its
 * tags name the disk (and user) in question. Spared snapshots are counted, not acted on.
 */
import type { DeletedRow } from '../../../shared/db/queries/snapshots.js';
import type { Action, Plan } from '../../../shared/plan.js';
import { decidePurge, decideRetention } from '../decide-deletions.js';
import type { DeleteAction, DeletePlan } from '../decide-deletions.js';
import type { DeletionLoad } from './load.js';

type Delete = Extract<DeleteAction, { kind: 'delete-snapshot' }>;
type Forget = Extract<DeleteAction, { kind: 'forget' }>;

export type DeletionStep =
  | (Action & { kind: 'finish-deletion'; row: DeletedRow })
  | (Action & { kind: 'delete-snapshot'; rule: Delete })
  | (Action & { kind: 'forget-snapshot'; rule: Forget });

const none: DeletePlan = { actions: [], deferred: 0 };

export function decideDeletionStage(loaded: DeletionLoad): Plan<DeletionStep> {
  const finish = loaded.unfinished.map(finishStep);
  const afterUnfinished = loaded.deleteLimit - finish.length;
  const purge = loaded.purge.observed
    ? decidePurge({
        now: loaded.now,
        rows: loaded.purge.rows,
        observed: loaded.purge.observed,
        deleteLimit: afterUnfinished,
      })
    : none;
  const afterPurge = afterUnfinished - deletions(purge);
  const retention = loaded.retention.observed
    ? decideRetention({
        rows: loaded.retention.rows,
        observed: loaded.retention.observed,
        retentionCount: loaded.retentionCount,
        deleteLimit: afterPurge,
      })
    : none;
  const rules = [...purge.actions, ...retention.actions];
  const steps = rules.flatMap((rule) => (rule.kind === 'spare' ? [] : [step(rule)]));
  const counts = {
    snapshots_spared: rules.length - steps.length,
    ...(purge.deferred + retention.deferred > 0 ? { deferred_delete_budget: purge.deferred + retention.deferred } : {}),
  };
  return { actions: [...finish, ...steps], counts };
}

const deletions = (plan: DeletePlan) => plan.actions.filter((action) => action.kind === 'delete-snapshot').length;

function finishStep(row: DeletedRow): DeletionStep {
  const reason = 'an earlier run marked it for deletion and did not finish';
  return {
    kind: 'finish-deletion',
    row,
    entity: { kind: 'snapshot', id: row.snapshot_id },
    reason,
    inputs: { rowId: row.id },
    destructive: true,
    item: { action: 'delete-snapshot', snapshotId: row.snapshot_id, reason },
  };
}

function step(rule: Delete | Forget): DeletionStep {
  const base = { entity: { kind: 'snapshot' as const, id: rule.snapshotId }, reason: rule.reason };
  if (rule.kind === 'forget')
    return {
      kind: 'forget-snapshot',
      rule,
      ...base,
      inputs: { rowId: rule.rowId },
      item: { action: 'forget-snapshot', snapshotId: rule.snapshotId, reason: rule.reason },
    };
  return {
    kind: 'delete-snapshot',
    rule,
    ...base,
    inputs: { rowId: rule.rowId, cause: rule.cause },
    destructive: true,
    item: { action: 'delete-snapshot', snapshotId: rule.snapshotId, reason: rule.reason },
  };
}
