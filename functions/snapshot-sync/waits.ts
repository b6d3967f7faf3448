/*
 * Bounded waits (SPEC 5.11), the upkeep after a stage: a wait is recorded with when it began; an
 * overdue one is counted on every run (summary `waits_overdue`, metric kind `wait-overdue`, alert
 * DevenvLifecycleSnapshotWaitOverdue) and written to the decision log once. One commit.
 */
import { endWaits, markEscalated, recordWaits } from '../../shared/db/queries/snapshots.js';
import type { DecisionEntry, Run } from '../../shared/runtime/run.js';
import { overdueWaits } from './decide-waits.js';
import type { TrackWaits } from './decide-waits.js';
import { FN } from './ec2-calls.js';
import type { SyncDeps } from './ec2-calls.js';

export async function executeTrackWaits(
  run: Run,
  action: TrackWaits,
  deps: SyncDeps,
): Promise<{ counts: Record<string, number> }> {
  const { waits } = action;
  const byKey = new Map(waits.map((wait) => [wait.key, wait]));
  const overdue = await run.commit(async (db) => {
    const now = run.now();
    await endWaits(
      db,
      action.settledKeys.filter((key) => !byKey.has(key)),
    );
    const rows = await recordWaits(db, waits, now);
    const open = rows.map((row) => ({
      key: row.wait_key,
      since: row.since,
      escalatedAt: row.escalated_at,
      escalateNow: byKey.get(row.wait_key)?.escalateNow === true,
    }));
    const due = overdueWaits(open, now, deps.config.policy.snapshotWaitEscalateMinutes);
    const first = due.filter((item) => item.first);
    const marked = new Set(
      first.length > 0
        ? await markEscalated(
            db,
            first.map((item) => item.key),
            now,
          )
        : [],
    );
    const decisions = first
      .filter((item) => marked.has(item.key))
      .map((item): DecisionEntry => {
        const wait = byKey.get(item.key)!;
        run.log.warn(
          { entityId: wait.entityId, minutes: item.minutes, reason: wait.reason },
          'snapshot-sync wait overdue: a person has to look',
        );
        return {
          entityKind: wait.entityKind,
          entityId: wait.entityId,
          action: 'escalate-wait',
          reason: `waiting ${item.minutes} minute(s): ${wait.reason}`,
          inputs: { waitKey: wait.key },
          outcome: 'skipped',
        };
      });
    return { value: due.length, decisions };
  });
  if (overdue > 0) deps.metrics.actions.inc({ function: FN, kind: 'wait-overdue', outcome: 'skipped' }, overdue);
  return { counts: { waits_overdue: overdue } };
}
