/*
 * Cut-over leftovers, pure. The origin counted a disk's pending snapshots in pending_snapshot_count
 * and credited them when its sync saw them complete; after cut-over only snapshots in our table are
 * credited, so a disk the origin left backing up stayed so for ever. Its snapshots are found by the
 * disk's volume, the origin's tags (`gpu-dev-user`, `disk_name`) and description ("gpu-dev <type>
 * snapshot for <user> …"), never ours (the managed tag), newest first, no more than the count nobody
 * accounts for. Whatever remains unaccounted for is reported and waits, bounded by an escalation.
 */
import type { SnapshotSeen } from './decide.js';
import { DISK_NAME_TAG, MANAGED_TAG, USER_TAG } from './tags.js';

export interface BackingUpDisk {
  diskId: string;
  userId: string;
  diskName: string;
  volumeId: string | null;
  pendingCount: number;
  /** Our own pending rows counted in pendingCount. */
  explained: number;
  isBackingUp: boolean;
}

export interface OriginSnapshot extends SnapshotSeen {
  volumeId: string;
  description: string;
}

/** A row of ours for a snapshot EC2 listed. */
export interface KnownRow {
  rowId: string;
  snapshotId: string;
  diskId: string | null;
  state: string;
  counted: boolean;
}

export type OriginAction =
  /** Adopt (or count on the disk) the origin's snapshots that explain its pending count. */
  | {
      kind: 'reconcile';
      disk: BackingUpDisk;
      adopt: OriginSnapshot[];
      count: KnownRow[];
      unexplainedAfter: number;
      reason: string;
    }
  | { kind: 'unexplained'; disk: BackingUpDisk; unexplained: number; reason: string };

const ADOPTABLE = new Set(['pending', 'completed', 'error']);

export function decideOriginPending(
  disks: BackingUpDisk[],
  found: OriginSnapshot[],
  known: ReadonlyMap<string, KnownRow>,
): OriginAction[] {
  return disks.map((disk) => judgeDisk(disk, found, known));
}

function judgeDisk(disk: BackingUpDisk, found: OriginSnapshot[], known: ReadonlyMap<string, KnownRow>): OriginAction {
  const unexplained = Math.max(0, disk.pendingCount - disk.explained);
  if (unexplained === 0) {
    return {
      kind: 'unexplained',
      disk,
      unexplained,
      reason: 'is_backing_up is set with no pending snapshot counted: nothing says what it waits for',
    };
  }
  if (disk.volumeId === null) {
    return {
      kind: 'unexplained',
      disk,
      unexplained,
      reason: `${unexplained} pending snapshot(s) counted and no volume to find them by`,
    };
  }
  const candidates = found
    .filter((s) => s.volumeId === disk.volumeId && ADOPTABLE.has(s.state) && isOriginSnapshotOf(s, disk))
    .filter((s) => {
      const row = known.get(s.snapshotId);
      return !row || isUncountedPendingOf(row, disk);
    })
    .sort((a, b) => b.startTime.getTime() - a.startTime.getTime() || b.snapshotId.localeCompare(a.snapshotId))
    .slice(0, unexplained);
  if (candidates.length === 0) {
    return {
      kind: 'unexplained',
      disk,
      unexplained,
      reason: `${unexplained} pending snapshot(s) counted, none of the origin's found on ${disk.volumeId}`,
    };
  }
  const count = candidates.flatMap((s) => {
    const row = known.get(s.snapshotId);
    return row ? [row] : [];
  });
  const adopt = candidates.filter((s) => !known.has(s.snapshotId));
  const reason = `the origin left ${unexplained} pending snapshot(s) counted; found ${candidates.map((s) => `${s.snapshotId} (${s.state})`).join(', ')} by volume, tags and description`;
  return { kind: 'reconcile', disk, adopt, count, unexplainedAfter: unexplained - candidates.length, reason };
}

/** The origin's tags and description, naming this disk; never one of ours. */
function isOriginSnapshotOf(s: OriginSnapshot, disk: Pick<BackingUpDisk, 'userId' | 'diskName'>): boolean {
  if (s.tags[MANAGED_TAG] !== undefined || s.tags[USER_TAG] !== disk.userId) return false;
  if (s.tags[DISK_NAME_TAG] !== undefined && s.tags[DISK_NAME_TAG] !== disk.diskName) return false;
  const prefix = /^gpu-dev [a-z-]+ snapshot for /.exec(s.description);
  if (!prefix) return false;
  const rest = s.description.slice(prefix[0].length);
  return rest === disk.userId || rest.startsWith(`${disk.userId} `);
}

const isUncountedPendingOf = (row: KnownRow, disk: BackingUpDisk) =>
  row.diskId === disk.diskId && row.state === 'pending' && !row.counted;
