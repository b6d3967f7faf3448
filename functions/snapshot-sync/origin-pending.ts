/*
 * Cut-over leftovers (decide-origin.ts): disks the origin left backing up get the origin's snapshots
 * adopted into our table, counted on the disk, so their completion is credited once like ours; a
 * completed (or failed) one is credited at once. A disk nothing explains is reported every run
 * (`disks_backing_up_unexplained`, the run's message) and waits, bounded by an escalation; it is
 * never counted as synced.
 */
import { adoptSnapshots, countSnapshotFinished, disksBackingUpUnexplained, lockDiskCount } from '../../shared/db/queries/disks.js';
import type { BackingUpDiskRow } from '../../shared/db/queries/disks.js';
import { countPendingOnDisk, snapshotRowsByIds } from '../../shared/db/queries/snapshots.js';
import type { Db } from '../../shared/db/pool.js';
import { Conflict } from '../../shared/errors.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decideOriginPending } from './decide-origin.js';
import type { BackingUpDisk, KnownRow, OriginAction, OriginSnapshot } from './decide-origin.js';
import { snapshotSeen } from './observe.js';
import { USER_TAG } from './tags.js';
import { trackWaits } from './waits.js';
import type { Wait } from './waits.js';

const VOLUMES_PER_CALL = 200;

export async function reconcileOriginPending(ctx: SyncContext): Promise<void> {
  const rows = await disksBackingUpUnexplained(ctx.deps.pool, ctx.scope.maxItems);
  if (rows.length === 0) return;
  const disks = rows.map(toDisk);
  const found = await findOriginSnapshots(ctx, disks);
  if (!found) {
    ctx.count('disks_backing_up_unchecked', disks.length);
    return;
  }
  const known = await snapshotRowsByIds(ctx.deps.pool, found.map((s) => s.snapshotId));
  const knownById = new Map(known.map((row): [string, KnownRow] => [row.snapshot_id, { rowId: row.id, snapshotId: row.snapshot_id, diskId: row.disk_id, state: row.state, counted: row.counted_on_disk }]));
  const actions = decideOriginPending(disks, found, knownById);
  await mapWithConcurrency(actions, ctx.concurrency, (action) => execute(ctx, action));
  await trackWaits(ctx, actions.flatMap(waitOf), actions.map((action) => waitKey(action.disk)));
}

const toDisk = (row: BackingUpDiskRow): BackingUpDisk => ({
  diskId: row.disk_id, userId: row.user_id, diskName: row.disk_name, volumeId: row.ebs_volume_id,
  pendingCount: row.pending_snapshot_count, explained: row.explained, isBackingUp: row.is_backing_up,
});

const waitKey = (disk: BackingUpDisk) => `disk-backing-up:${disk.diskId}`;

function waitOf(action: OriginAction): Wait[] {
  const left = action.kind === 'unexplained' ? action.unexplained : action.unexplainedAfter;
  if (action.kind === 'reconcile' && left === 0) return [];
  return [{ key: waitKey(action.disk), entityKind: 'disk', entityId: action.disk.diskId, reason: `the disk is backing up and nothing accounts for it: ${action.reason}` }];
}

/** The snapshots of the disks' volumes carrying the origin's user tag; undefined when EC2 could not be asked. */
async function findOriginSnapshots(ctx: SyncContext, disks: BackingUpDisk[]): Promise<OriginSnapshot[] | undefined> {
  const volumeIds = [...new Set(disks.flatMap((disk) => (disk.volumeId === null ? [] : [disk.volumeId])))];
  const found: OriginSnapshot[] = [];
  try {
    for (let i = 0; i < volumeIds.length; i += VOLUMES_PER_CALL) {
      const query = { volumeIds: volumeIds.slice(i, i + VOLUMES_PER_CALL), tagKeys: [USER_TAG] };
      const infos = await ctx.aws((signal) => ctx.deps.ec2.describeSnapshots(query, signal));
      found.push(...infos.map((info) => ({ ...snapshotSeen(info), volumeId: info.volumeId, description: info.description })));
    }
    return found;
  } catch (err) {
    ctx.fail('find-origin-snapshots', `${volumeIds.length} volume(s)`, err);
    return undefined;
  }
}

async function execute(ctx: SyncContext, action: OriginAction): Promise<void> {
  const { disk } = action;
  if (action.kind === 'unexplained') {
    ctx.count('disks_backing_up_unexplained');
    ctx.scope.log.warn({ diskId: disk.diskId, reason: action.reason }, 'disk backing up with nothing to account for it');
    return;
  }
  if (!ctx.take()) return;
  if (ctx.dryRun) {
    for (const s of action.adopt) ctx.plan('adopt-origin-snapshot', { diskId: disk.diskId, snapshotId: s.snapshotId }, action.reason);
    for (const row of action.count) ctx.plan('count-origin-snapshot', { diskId: disk.diskId, snapshotId: row.snapshotId }, action.reason);
    return;
  }
  try {
    const result = await ctx.tx(async (db) => {
      const outcome = await lockDiskCount(db, disk.diskId, disk.pendingCount) ? await reconcile(ctx, db, action) : undefined;
      const decision = { entityKind: 'disk' as const, entityId: disk.diskId, action: 'reconcile-origin-pending', reason: action.reason, outcome: outcome ? 'applied' as const : 'conflict' as const };
      return { value: outcome, decisions: [decision] };
    });
    if (!result) return ctx.done('reconcile-origin-pending', 'skipped');
    ctx.count('origin_snapshots_adopted', result.adopted);
    ctx.count('origin_snapshots_credited', result.credited);
    ctx.count(action.unexplainedAfter > 0 ? 'disks_backing_up_unexplained' : 'synced_disks');
    ctx.done('reconcile-origin-pending');
  } catch (err) {
    if (!(err instanceof Conflict)) return ctx.failAction('reconcile-origin-pending', { entityKind: 'disk', entityId: disk.diskId }, err);
    // Another run adopted or counted some of them first: nothing was changed; the next run reads again.
    ctx.done('reconcile-origin-pending', 'skipped');
  }
}

/** Adopts and counts in one transaction; a completed or failed snapshot is credited at once. */
async function reconcile(ctx: SyncContext, db: Db, action: Extract<OriginAction, { kind: 'reconcile' }>): Promise<{ adopted: number; credited: number }> {
  const { disk } = action;
  const counted = await countPendingOnDisk(db, disk.diskId, action.count.map((row) => row.rowId));
  if (counted !== action.count.length) throw new Conflict(`disk ${disk.diskId}: a snapshot was counted by another run`);
  const found = action.adopt.map((s) => ({ snapshotId: s.snapshotId, volumeId: s.volumeId, state: s.state as 'pending' | 'completed' | 'error', sizeGb: s.sizeGb, startTime: s.startTime }));
  const adopted = await adoptSnapshots(db, { disk_id: disk.diskId, user_id: disk.userId, disk_name: disk.diskName }, found, ctx.now(), true);
  if (adopted.length !== found.length) throw new Conflict(`disk ${disk.diskId}: a snapshot was adopted by another run`);
  for (const row of adopted.filter((r) => r.state !== 'pending')) {
    const completed = row.state === 'completed';
    await countSnapshotFinished(db, disk.diskId, { wasCounted: true, completed, sizeGb: completed ? row.size_gb : null, at: ctx.now() });
  }
  return { adopted: adopted.length + counted, credited: adopted.filter((r) => r.state !== 'pending').length };
}
