/*
 * Polling: only pending snapshots, by id. A completion updates the disk counters for that snapshot
 * id, once, in the transaction of its own state change, with its snapshot.completed event (the
 * origin counted any completed snapshot it saw against any disk with something pending, A-10).
 */
import { countSnapshotFinished } from '../../shared/db/queries/disks.js';
import { finishSnapshot, pendingSnapshots } from '../../shared/db/queries/snapshots.js';
import type { Finish, FinishedRow } from '../../shared/db/queries/snapshots.js';
import type { Db } from '../../shared/db/pool.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decidePolls } from './decide.js';
import type { PollAction } from './decide.js';
import { observeSnapshots } from './observe.js';

export async function pollPending(ctx: SyncContext): Promise<void> {
  const rows = await pendingSnapshots(ctx.deps.pool, ctx.scope.maxItems);
  if (rows.length === 0) return;
  const observed = await observeSnapshots(ctx, rows.map((row) => row.snapshot_id));
  if (!observed) return;
  const pending = rows.map((row) => ({ rowId: row.id, snapshotId: row.snapshot_id, startedAt: row.started_at }));
  const actions = decidePolls({ now: ctx.now(), pending, ...observed });
  ctx.count('snapshots_still_pending', rows.length - actions.length);
  await mapWithConcurrency(actions, ctx.concurrency, (action) => executePoll(ctx, action));
}

async function executePoll(ctx: SyncContext, action: PollAction): Promise<void> {
  const snapshotId = action.kind === 'complete' ? action.snapshot.snapshotId : action.snapshotId;
  if (!ctx.take()) return;
  if (ctx.dryRun) {
    ctx.plan(action.kind === 'complete' ? 'complete-snapshot' : 'fail-snapshot', { snapshotId }, action.reason);
    return;
  }
  const finish: Finish = action.kind === 'complete'
    ? { state: 'completed', sizeGb: action.snapshot.sizeGb }
    : { state: 'error', note: action.reason };
  try {
    const finished = await ctx.tx(async (db) => {
      const row = await finishSnapshot(db, action.rowId, finish, ctx.now());
      if (row) await recordFinished(ctx, db, row, finish);
      const decision = { entityKind: 'snapshot' as const, entityId: snapshotId, action: `${finish.state}-snapshot`, reason: action.reason };
      return { value: row !== undefined, decisions: [{ ...decision, outcome: row ? 'applied' as const : 'conflict' as const }] };
    });
    if (!finished) return;
    ctx.count(finish.state === 'completed' ? 'snapshots_completed' : 'snapshots_failed');
    ctx.deps.metrics.snapshots.inc({ state: finish.state });
    ctx.done(`${finish.state}-snapshot`);
  } catch (err) {
    await ctx.failAction(`${finish.state}-snapshot`, { entityKind: 'snapshot', entityId: snapshotId }, err);
  }
}

async function recordFinished(ctx: SyncContext, db: Db, row: FinishedRow, finish: Finish): Promise<void> {
  const now = ctx.now();
  const completed = finish.state === 'completed';
  const sizeGb = completed && finish.sizeGb > 0 ? finish.sizeGb : null;
  if (row.disk_id) await countSnapshotFinished(db, row.disk_id, { wasCounted: row.was_counted, completed, sizeGb, at: now });
  if (!completed) return;
  const event = buildEvent(EventTypes.snapshotCompleted, {
    snapshotId: row.snapshot_id,
    volumeId: row.volume_id,
    reservationId: row.reservation_id,
    diskName: row.disk_name,
    sizeGb,
    completedAt: now.toISOString(),
  }, { source: sourceFor('snapshot-sync'), subject: row.reservation_id ?? row.snapshot_id, time: now });
  await ctx.scope.stage(db, [event]);
}
