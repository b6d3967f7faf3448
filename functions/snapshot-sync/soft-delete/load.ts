/*
 * Soft-deleted disks, read-only: the disks with something to do (not every soft-deleted disk each
 * run), their snapshot rows, and for a disk not yet synced the snapshots EC2 holds under its tags
 * that our table does not know yet (the origin's), to be adopted before tagging. A disk not yet
 * synced whose tags EC2 was not asked about (a failed call, or the run's pace) waits for a later run.
 */
import type { SnapshotInfo } from '../../../shared/aws/ec2-shapes.js';
import { snapshotsOfDisks, softDeletedDisksToSync } from '../../../shared/db/queries/disks.js';
import type { AdoptedSnapshot, SoftDeletedDiskRow } from '../../../shared/db/queries/disks.js';
import { mapWithConcurrency } from '../../../shared/resilience.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { DiskSnapshotRow, SoftDeletedDisk } from '../decide-deletions.js';
import { ec2Call, fanOut } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import { deferReads, mayRead } from '../pace.js';
import { DISK_NAME_TAG, USER_TAG } from '../tags.js';

export interface SoftDeleteLoad {
  disks: (SoftDeletedDisk & { userId: string; diskName: string })[];
  rows: DiskSnapshotRow[];
  /** Per disk: snapshots found by its tags that no row of ours holds yet. */
  unknown: ReadonlyMap<string, AdoptedSnapshot[]>;
}

export async function loadSoftDeleted({ run, deps, limit }: LoadInput<BaseOptions, SyncDeps>): Promise<SoftDeleteLoad> {
  const disks = await softDeletedDisksToSync(deps.pool, limit);
  if (disks.length === 0) return { disks: [], rows: [], unknown: new Map() };
  const rows = await snapshotsOfDisks(
    deps.pool,
    disks.map((disk) => disk.disk_id),
  );
  const known = new Set(rows.map((row) => row.snapshot_id));
  const unsynced = disks.filter((disk) => !disk.synced && disk.delete_date !== null);
  const found = await mapWithConcurrency(unsynced, fanOut(deps), (disk) => findByTags(run, deps, disk, known));
  const unknown = new Map(unsynced.flatMap((disk, index) => answered(disk, found[index])));
  // A disk EC2 was not asked about is left for a later run: tagging it now would mark it synced
  // without the origin's snapshots, which no later run would then look for.
  const unasked = new Set(unsynced.filter((disk) => !unknown.has(disk.disk_id)));
  const ready = disks.filter((disk) => !unasked.has(disk));
  return {
    disks: ready.map((disk) => ({
      diskId: disk.disk_id,
      userId: disk.user_id,
      diskName: disk.disk_name,
      deleteDate: disk.delete_date,
      markedDeletedAt: disk.marked_deleted_at,
      synced: disk.synced,
    })),
    rows: rows.map((row) => ({
      rowId: row.id,
      diskId: row.disk_id,
      snapshotId: row.snapshot_id,
      deleteAfter: row.delete_after,
    })),
    unknown,
  };
}

const answered = (disk: SoftDeletedDiskRow, result: PromiseSettledResult<AdoptedSnapshot[] | undefined> | undefined) =>
  result?.status === 'fulfilled' && result.value ? [[disk.disk_id, result.value] as const] : [];

type Adoptable = SnapshotInfo & { state: AdoptedSnapshot['state'] };
const adoptable = (info: SnapshotInfo): info is Adoptable =>
  info.state === 'pending' || info.state === 'completed' || info.state === 'error';

/**
 * The disk's snapshots made by anyone (the origin, say), found by its tags; undefined when EC2 was
 * not asked (the call failed, or the run's pace stopped the reads).
 */
async function findByTags(
  run: Run,
  deps: SyncDeps,
  disk: SoftDeletedDiskRow,
  known: ReadonlySet<string>,
): Promise<AdoptedSnapshot[] | undefined> {
  if (!mayRead(run)) {
    deferReads(run, 1);
    return undefined;
  }
  try {
    const query = { tags: { [USER_TAG]: disk.user_id, [DISK_NAME_TAG]: disk.disk_name } };
    const found = await ec2Call(deps, (signal) => deps.ec2.describeSnapshots(query, signal));
    return found
      .filter((info): info is Adoptable => adoptable(info) && !known.has(info.snapshotId))
      .map((info) => ({
        snapshotId: info.snapshotId,
        volumeId: info.volumeId,
        state: info.state,
        sizeGb: info.volumeSizeGiB,
        startTime: info.startTime,
      }));
  } catch (err) {
    run.fail('adopt-snapshots', disk.disk_id, err);
    return undefined;
  }
}
