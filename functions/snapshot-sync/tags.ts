/*
 * The tags snapshot-sync writes on EC2 snapshots. The origin's keys and Name pattern stay, because
 * the platform's CLI and API read them; ours mark a snapshot as made by this product and carry the
 * request token that lets a retry after a crash find the snapshot instead of making a second one.
 */
export const MANAGED_TAG = 'devenv-lifecycle/managed';
export const REQUEST_TOKEN_TAG = 'devenv-lifecycle/request-token';
const RESERVATION_TAG = 'devenv-lifecycle/reservation-id';
export const USER_TAG = 'gpu-dev-user';
export const DISK_NAME_TAG = 'disk_name';
export const DELETE_DATE_TAG = 'delete-date';
const MARKED_DELETED_AT_TAG = 'marked-deleted-at';

export interface ShutdownTagInput {
  reservationId: string;
  userId: string;
  diskName: string | null;
  requestToken: string;
  now: Date;
}

function unixSeconds(at: Date): string {
  return String(Math.floor(at.getTime() / 1000));
}

export function shutdownTags(input: ShutdownTagInput): Record<string, string> {
  const created = unixSeconds(input.now);
  const userPart = input.userId.split('@')[0] ?? input.userId;
  return {
    Name: `gpu-dev-shutdown-${userPart}-${created}`,
    [USER_TAG]: input.userId,
    'gpu-dev-snapshot-type': 'shutdown',
    SnapshotType: 'shutdown',
    created_at: created,
    ...(input.diskName === null ? {} : { [DISK_NAME_TAG]: input.diskName }),
    [MANAGED_TAG]: 'true',
    [REQUEST_TOKEN_TAG]: input.requestToken,
    [RESERVATION_TAG]: input.reservationId,
  };
}

/** The origin's description, so snapshots look the same in the console whoever made them. */
export function shutdownDescription(userId: string, diskName: string | null): string {
  return `gpu-dev shutdown snapshot for ${userId}${diskName === null ? '' : ` (disk: ${diskName})`}`;
}

/** `delete-date` is the disk's delete date (YYYY-MM-DD); `marked-deleted-at` is unix seconds. */
export function deletionTags(deleteDate: string, markedDeletedAt: Date): Record<string, string> {
  return { [DELETE_DATE_TAG]: deleteDate, [MARKED_DELETED_AT_TAG]: unixSeconds(markedDeletedAt) };
}
