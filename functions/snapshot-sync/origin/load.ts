/*
 * Cut-over leftovers, read-only: the disks the origin left backing up that our rows do not explain,
 * the origin's snapshots of their volumes (by its user tag), and our rows for those snapshots.
 */
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
import { USER_TAG } from '../tags.js';

const VOLUMES_PER_CALL = 200;

export interface OriginLoad {
  disks: BackingUpDisk[];
  /** Undefined when EC2 could not be asked: the disks are counted unchecked, nothing is decided. */
  found?: OriginSnapshot[];
  known: ReadonlyMap<string, KnownRow>;
}

export async function loadOrigin({ run, deps, limit }: LoadInput<BaseOptions, SyncDeps>): Promise<OriginLoad> {
  const disks = (await disksBackingUpUnexplained(deps.pool, limit)).map(toDisk);
  if (disks.length === 0) return { disks, found: [], known: new Map() };
  const found = await findOriginSnapshots(run, deps, disks);
  if (!found) return { disks, known: new Map() };
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

async function findOriginSnapshots(
  run: Run,
  deps: SyncDeps,
  disks: BackingUpDisk[],
): Promise<OriginSnapshot[] | undefined> {
  const volumeIds = [...new Set(disks.flatMap((disk) => (disk.volumeId === null ? [] : [disk.volumeId])))];
  const found: OriginSnapshot[] = [];
  try {
    for (let i = 0; i < volumeIds.length; i += VOLUMES_PER_CALL) {
      const query = { volumeIds: volumeIds.slice(i, i + VOLUMES_PER_CALL), tagKeys: [USER_TAG] };
      const infos = await ec2Call(deps, (signal) => deps.ec2.describeSnapshots(query, signal));
      found.push(
        ...infos.map((info) => ({ ...snapshotSeen(info), volumeId: info.volumeId, description: info.description })),
      );
    }
    return found;
  } catch (err) {
    run.fail('find-origin-snapshots', `${volumeIds.length} volume(s)`, err);
    return undefined;
  }
}
