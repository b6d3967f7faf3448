/*
 * Bounded waits (SPEC 5.11): each stage hands over what it waits on and what it settled. A wait is
 * recorded with when it began; an overdue one is counted on every run (summary `waits_overdue`,
 * metric kind `wait-overdue`, alert DevenvLifecycleSnapshotWaitOverdue) and written to the decision
 * log once. A dry run records nothing.
 */
import { endWaits, markEscalated, recordWaits } from '../../shared/db/queries/snapshots.js';
import type { EntityKind } from '../../shared/db/queries/decisions.js';
import type { SyncContext } from './context.js';
import { overdueWaits } from './decide-waits.js';

export interface Wait {
  key: string;
  entityKind: EntityKind;
  entityId: string;
  reason: string;
  escalateNow?: boolean;
}

export async function trackWaits(ctx: SyncContext, waiting: Wait[], settledKeys: string[]): Promise<void> {
  ctx.count('waits_open', waiting.length);
  if (ctx.dryRun || (waiting.length === 0 && settledKeys.length === 0)) return;
  const waitingKeys = new Set(waiting.map((wait) => wait.key));
  await endWaits(ctx.deps.pool, settledKeys.filter((key) => !waitingKeys.has(key)));
  const rows = await recordWaits(ctx.deps.pool, waiting, ctx.now());
  const byKey = new Map(waiting.map((wait) => [wait.key, wait]));
  const open = rows.map((row) => ({ key: row.wait_key, since: row.since, escalatedAt: row.escalated_at, escalateNow: byKey.get(row.wait_key)?.escalateNow === true }));
  const overdue = overdueWaits(open, ctx.now(), ctx.deps.config.policy.snapshotWaitEscalateMinutes);
  if (overdue.length > 0) {
    ctx.count('waits_overdue', overdue.length);
    ctx.deps.metrics.actions.inc({ function: 'snapshot-sync', kind: 'wait-overdue', outcome: 'skipped' }, overdue.length);
  }
  const first = overdue.filter((item) => item.first);
  if (first.length === 0) return;
  await ctx.tx(async (db) => {
    const marked = new Set(await markEscalated(db, first.map((item) => item.key), ctx.now()));
    const decisions = first.filter((item) => marked.has(item.key)).map((item) => {
      const wait = byKey.get(item.key)!;
      ctx.scope.log.warn({ entityId: wait.entityId, minutes: item.minutes, reason: wait.reason }, 'snapshot-sync wait overdue: a person has to look');
      const reason = `waiting ${item.minutes} minute(s): ${wait.reason}`;
      return { entityKind: wait.entityKind, entityId: wait.entityId, action: 'escalate-wait', reason, inputs: { waitKey: wait.key }, outcome: 'skipped' as const };
    });
    return { value: undefined, decisions };
  });
}
