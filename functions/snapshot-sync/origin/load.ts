/*
 * Cut-over leftovers, read-only: the disks the origin left backing up that our rows do not explain,
 * the origin's snapshots of their volumes (by its user tag), and our rows for those snapshots.
 */
import { FILTER_VALUES_PER_CALL } from '../../../shared/aws/ec2-shapes.js';
import { disksBackingUpUnexplained } from '../../../shared/db/queries/disks.js';
import type { BackingUpDiskRow } from '../../../shared/db/queries/disks.js';
import { snapshotRowsByIds } from '../../../shared/db/queries/snapshots.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { Run } from '../../../shared/runtime/run.js';
import type { BackingUpDisk, KnownRow, OriginSnapshot } from '../decide-origin.js';
import { ec2Call } from '../ec2-calls.js';
import type { SyncDeps } from '../ec2-calls.js';
import { snapshotSeen } from '../observe.js';
import { readPaced } from '../pace.js';
import { USER_TAG } from '../tags.js';

/** One call each: the user tag key takes one of EC2's filter values, the volume ids the rest. */
const VOLUMES_PER_CALL = FILTER_VALUES_PER_CALL - 1;

export interface OriginLoad {
  disks: BackingUpDisk[];
  /** Undefined when EC2 could not be asked: the disks are counted unchecked, nothing is decided. */
  found?: OriginSnapshot[];
  known: ReadonlyMap<string, KnownRow>;
}

export async function loadOrigin({ run, deps, limit }: LoadInput<BaseOptions, SyncDeps>): Promise<OriginLoad> {
  const backingUp = (await disksBackingUpUnexplained(deps.pool, limit)).map(toDisk);
  if (backingUp.length === 0) return { disks: backingUp, found: [], known: new Map() };
  const origin = await findOriginSnapshots(run, deps, backingUp);
  if (!origin) return { disks: backingUp, known: new Map() };
  // A disk whose volume was not looked at is left for a later run: "none found" would be a guess.
  const disks = backingUp.filter((disk) => disk.volumeId === null || !origin.unread.has(disk.volumeId));
  const { found } = origin;
  const known = await snapshotRowsByIds(
    deps.pool,
    found.map((s) => s.snapshotId),
  );
  const byId = new Map(
    known.map((row): [string, KnownRow] => [
      row.snapshot_id,
      {
        rowId: row.id,
        snapshotId: row.snapshot_id,
        diskId: row.disk_id,
        state: row.state,
        counted: row.counted_on_disk,
      },
    ]),
  );
  return { disks, found, known: byId };
}

const toDisk = (row: BackingUpDiskRow): BackingUpDisk => ({
  diskId: row.disk_id,
  userId: row.user_id,
  diskName: row.disk_name,
  volumeId: row.ebs_volume_id,
  pendingCount: row.pending_snapshot_count,
  explained: row.explained,
  isBackingUp: row.is_backing_up,
});

/** The origin's snapshots of the disks' volumes, and the volumes not looked at (the run's pace). */
async function findOriginSnapshots(
  run: Run,
  deps: SyncDeps,
  disks: BackingUpDisk[],
): Promise<{ found: OriginSnapshot[]; unread: ReadonlySet<string> } | undefined> {
  const volumeIds = [...new Set(disks.flatMap((disk) => (disk.volumeId === null ? [] : [disk.volumeId])))];
  const found: OriginSnapshot[] = [];
  try {
    const unread = await readPaced(run, volumeIds, VOLUMES_PER_CALL, async (chunk) => {
      const infos = await ec2Call(deps, (signal) =>
        deps.ec2.describeSnapshots({ volumeIds: chunk, tagKeys: [USER_TAG] }, signal),
      );
      found.push(
        ...infos.map((info) => ({ ...snapshotSeen(info), volumeId: info.volumeId, description: info.description })),
      );
    });
    return { found, unread };
  } catch (err) {
    run.fail('find-origin-snapshots', `${volumeIds.length} volume(s)`, err);
    return undefined;
  }
}
