/*
 * The volume after its shutdown snapshot, read-only: the candidates (snapshot completed, volume
 * outcome not yet recorded) and what EC2 says of each volume. Nothing is read when the policy
 * keeps volumes (DELETE_VOLUME_AFTER_SNAPSHOT=false).
 */
import { volumesAfterSnapshot } from '../../../shared/db/queries/disks.js';
import type { VolumeCandidateRow } from '../../../shared/db/queries/disks.js';
import type { LoadInput } from '../../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../../shared/runtime/invocation.js';
import type { VolumeCandidate, VolumeSeen } from '../decide.js';
import type { SyncDeps } from '../ec2-calls.js';
import { observeVolumes } from '../observe.js';

export interface VolumeLoad {
  deleteAfterSnapshot: boolean;
  candidates: VolumeCandidate[];
  /** Each candidate's disk row, whose volume is forgotten once the volume is gone. */
  diskOf: ReadonlyMap<string, string | null>;
  volumes: ReadonlyMap<string, VolumeSeen>;
  malformed: number;
}

export async function loadVolumes({ run, deps, limit }: LoadInput<BaseOptions, SyncDeps>): Promise<VolumeLoad> {
  const deleteAfterSnapshot = deps.config.policy.deleteVolumeAfterSnapshot;
  const none = { deleteAfterSnapshot, candidates: [], diskOf: new Map(), volumes: new Map(), malformed: 0 };
  if (!deleteAfterSnapshot) return none;
  const rows = await volumesAfterSnapshot(deps.pool, limit);
  if (rows.length === 0) return none;
  const { volumes, malformed, unread } = await observeVolumes(run, deps, [
    ...new Set(rows.map((row) => row.volume_id)),
  ]);
  const read = rows.filter((row) => !unread.has(row.volume_id));
  return {
    deleteAfterSnapshot,
    candidates: read.map(toCandidate),
    diskOf: new Map(read.map((row) => [row.id, row.disk_id])),
    volumes,
    malformed,
  };
}

const toCandidate = (row: VolumeCandidateRow): VolumeCandidate => ({
  rowId: row.id,
  snapshotId: row.snapshot_id,
  volumeId: row.volume_id,
  reservationId: row.reservation_id,
  userId: row.user_id,
  diskName: row.disk_name,
  reservationEnded: row.reservation_ended,
  superseded: row.superseded,
  diskKnown: row.disk_known,
  heldByOther: row.held_by_other,
});
