/*
 * Soft-deleted disks: their snapshots (ours, and the origin's found by the disk's tags and adopted
 * into our table) get `delete-date` and `marked-deleted-at` tags; deletions.ts purges them once the
 * date has passed. Only disks with something to do are read, not every soft-deleted disk each run.
 */
import type { SnapshotInfo } from '../../shared/aws/ec2-shapes.js';
import { adoptSnapshots, markTaggedForDeletion, snapshotsOfDisks, softDeletedDisksToSync } from '../../shared/db/queries/disks.js';
import type { AdoptedSnapshot, SoftDeletedDiskRow } from '../../shared/db/queries/disks.js';
import { markDeleted } from '../../shared/db/queries/snapshots.js';
import { NotFound } from '../../shared/errors.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { SyncContext } from './context.js';
import { decideDeletionTags } from './decide-deletions.js';
import type { DiskSnapshotRow, TagAction } from './decide-deletions.js';
import { DISK_NAME_TAG, USER_TAG, deletionTags } from './tags.js';

const IDS_PER_CREATE_TAGS = 100;

export async function tagSoftDeletedDisks(ctx: SyncContext): Promise<void> {
  const disks = await softDeletedDisksToSync(ctx.deps.pool, ctx.scope.maxItems);
  if (disks.length === 0) return;
  const diskIds = disks.map((disk) => disk.disk_id);
  let rows = await snapshotsOfDisks(ctx.deps.pool, diskIds);
  const known = new Set(rows.map((row) => row.snapshot_id));
  const unsynced = disks.filter((disk) => !disk.synced && disk.delete_date !== null);
  const adopted = await mapWithConcurrency(unsynced, ctx.concurrency, (disk) => adopt(ctx, disk, known));
  if (adopted.some((result) => result.status === 'fulfilled' && result.value > 0)) rows = await snapshotsOfDisks(ctx.deps.pool, diskIds);
  const actions = decideDeletionTags(
    disks.map((disk) => ({ diskId: disk.disk_id, deleteDate: disk.delete_date, markedDeletedAt: disk.marked_deleted_at, synced: disk.synced })),
    rows.map((row) => ({ rowId: row.id, diskId: row.disk_id, snapshotId: row.snapshot_id, deleteAfter: row.delete_after })),
  );
  await mapWithConcurrency(actions, ctx.concurrency, (action) => executeTag(ctx, action));
}

type Adoptable = SnapshotInfo & { state: AdoptedSnapshot['state'] };
const adoptable = (info: SnapshotInfo): info is Adoptable => info.state === 'pending' || info.state === 'completed' || info.state === 'error';

/** The disk's snapshots made by anyone (the origin, say), found by its tags, join our table. */
async function adopt(ctx: SyncContext, disk: SoftDeletedDiskRow, known: ReadonlySet<string>): Promise<number> {
  // A read per disk: past the stop point the next run looks instead.
  if (ctx.pastStop()) return (ctx.count('deferred_deadline'), 0);
  try {
    const query = { tags: { [USER_TAG]: disk.user_id, [DISK_NAME_TAG]: disk.disk_name } };
    const found = (await ctx.aws((signal) => ctx.deps.ec2.describeSnapshots(query, signal)))
      .filter((info) => adoptable(info) && !known.has(info.snapshotId)) as Adoptable[];
    if (ctx.dryRun) {
      for (const info of found) ctx.plan('adopt-snapshot', { diskId: disk.disk_id, snapshotId: info.snapshotId }, 'found by the soft-deleted disk\'s tags');
      return 0;
    }
    const snapshots = found.map((info) => ({ snapshotId: info.snapshotId, volumeId: info.volumeId, state: info.state, sizeGb: info.volumeSizeGiB, startTime: info.startTime }));
    const adopted = (await adoptSnapshots(ctx.deps.pool, disk, snapshots, ctx.now())).length;
    ctx.count('adopted_snapshots', adopted);
    return adopted;
  } catch (err) {
    ctx.fail('adopt-snapshots', disk.disk_id, err);
    return 0;
  }
}

async function executeTag(ctx: SyncContext, action: TagAction): Promise<void> {
  if (action.kind === 'no-date') {
    ctx.count('disks_without_delete_date');
    ctx.scope.log.warn({ diskId: action.diskId, reason: action.reason }, 'soft-deleted disk left alone');
    return;
  }
  if (!ctx.take()) return;
  if (ctx.dryRun) {
    for (const row of action.rows) ctx.plan('tag-for-deletion', { diskId: action.diskId, snapshotId: row.snapshotId }, action.reason);
    return;
  }
  try {
    const tagged = await tagRows(ctx, action.rows, deletionTags(action.deleteDate, action.markedDeletedAt));
    await ctx.tx(async (db) => {
      await markTaggedForDeletion(db, action.diskId, tagged.map((row) => row.rowId), action.deleteDate, ctx.now());
      const inputs = { deleteDate: action.deleteDate, snapshotIds: tagged.map((row) => row.snapshotId) };
      return { value: undefined, decisions: [{ entityKind: 'disk' as const, entityId: action.diskId, action: 'tag-for-deletion', reason: action.reason, inputs }] };
    });
    ctx.count('tagged_snapshots', tagged.length);
    ctx.count('synced_disks');
    ctx.done('tag-for-deletion');
  } catch (err) {
    await ctx.failAction('tag-for-deletion', { entityKind: 'disk', entityId: action.diskId }, err);
  }
}

/** Tags in batches; a batch with a vanished snapshot is refused whole, so it is retried one by one. */
async function tagRows(ctx: SyncContext, rows: DiskSnapshotRow[], tags: Record<string, string>): Promise<DiskSnapshotRow[]> {
  const tagged: DiskSnapshotRow[] = [];
  for (let i = 0; i < rows.length; i += IDS_PER_CREATE_TAGS) {
    const batch = rows.slice(i, i + IDS_PER_CREATE_TAGS);
    try {
      await ctx.aws((signal) => ctx.deps.ec2.createTags(batch.map((row) => row.snapshotId), tags, signal));
      tagged.push(...batch);
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      for (const row of batch) if (await tagOne(ctx, row, tags)) tagged.push(row);
    }
  }
  return tagged;
}

async function tagOne(ctx: SyncContext, row: DiskSnapshotRow, tags: Record<string, string>): Promise<boolean> {
  try {
    await ctx.aws((signal) => ctx.deps.ec2.createTags([row.snapshotId], tags, signal));
    return true;
  } catch (err) {
    if (!(err instanceof NotFound)) throw err;
    // Gone from EC2: nothing left to tag or purge. A pending one is left to polling instead.
    if (await markDeleted(ctx.deps.pool, row.rowId, 'no longer in EC2 (CreateTags)', ctx.now(), ['completed', 'error'])) ctx.count('snapshots_forgotten');
    return false;
  }
}
