/*
 * snapshot-sync's decisions, pure. Each stage of a run hands over the rows it loaded and what EC2
 * said, and gets actions with a reason. Destroy only on positive evidence (SPEC section 5): a volume
 * only after its shutdown snapshot completed, while EC2 says it is detached and nothing says a newer
 * reservation uses it; a snapshot only when EC2 confirms it is the one we mean and it is ours (or its
 * disk was soft-deleted and the date has passed, decide-deletions.ts). Anything unknown waits.
 */
export interface ShutdownTarget {
  reservationId: string;
  userId: string;
  diskName: string | null;
  diskId: string | null;
  volumeId: string;
}

/** What DescribeVolumes said about a volume in this run. */
export type VolumeSeen =
  | { kind: 'available' }
  | { kind: 'busy'; state: string } // attached, or creating/deleting/error: anything but detached
  | { kind: 'missing' } // a definite NotFound
  | { kind: 'unknown'; error: string }; // not asked, or the call failed

export interface SnapshotSeen {
  snapshotId: string;
  state: string;
  startTime: Date;
  sizeGb: number;
  tags: Record<string, string>;
}

/** EC2 is eventually consistent: for this long after a request, not seeing its result proves nothing. */
const CONSISTENCY_MINUTES = 5;

const minutesBetween = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 60_000;

// ---- shutdown snapshots -------------------------------------------------------------------------

export interface RequestedRow {
  rowId: string;
  requestToken: string;
  updatedAt: Date;
  target: ShutdownTarget;
}

export interface ShutdownInput {
  now: Date;
  /** Reservations whose shutdown snapshot has no row yet. */
  fresh: ShutdownTarget[];
  /** Rows written before a CreateSnapshot whose outcome was never recorded. */
  requested: RequestedRow[];
  volumes: ReadonlyMap<string, VolumeSeen>;
  /** Snapshots found by their request-token tag. */
  byToken: ReadonlyMap<string, SnapshotSeen[]>;
}

export type ShutdownAction =
  | { kind: 'record'; rowId: string; target: ShutdownTarget; snapshot: SnapshotSeen; duplicates: string[]; reason: string }
  /** `requested`: the row an earlier attempt left (claim it first); null: write a new row first. */
  | { kind: 'create'; requested: RequestedRow | null; target: ShutdownTarget; reason: string }
  | { kind: 'abandon'; rowId: string | null; target: ShutdownTarget; reason: string }
  | { kind: 'wait'; target: ShutdownTarget; reason: string };

export function decideShutdowns(input: ShutdownInput): ShutdownAction[] {
  const requested = input.requested.map((row) => judgeRequested(row, input));
  return [...requested, ...input.fresh.map((target) => judgeVolume(null, target, input.volumes))];
}

function judgeRequested(row: RequestedRow, input: ShutdownInput): ShutdownAction {
  const [first, ...others] = [...(input.byToken.get(row.requestToken) ?? [])].sort(oldestFirst);
  if (first) {
    const reason = `found ${first.snapshotId} by its request token: an earlier attempt created it`;
    return { kind: 'record', rowId: row.rowId, target: row.target, snapshot: first, duplicates: others.map((s) => s.snapshotId), reason };
  }
  if (minutesBetween(row.updatedAt, input.now) < CONSISTENCY_MINUTES) {
    return { kind: 'wait', target: row.target, reason: 'requested moments ago: EC2 may not list the snapshot yet' };
  }
  return judgeVolume(row, row.target, input.volumes);
}

function judgeVolume(requested: RequestedRow | null, target: ShutdownTarget, volumes: ReadonlyMap<string, VolumeSeen>): ShutdownAction {
  const seen = volumes.get(target.volumeId) ?? { kind: 'unknown', error: 'not observed' };
  switch (seen.kind) {
    case 'available':
      return { kind: 'create', requested, target, reason: 'the volume is detached (available)' };
    case 'missing':
      return { kind: 'abandon', rowId: requested?.rowId ?? null, target, reason: 'EC2 says the volume does not exist: nothing to snapshot' };
    case 'busy':
      return { kind: 'wait', target, reason: `the volume is ${seen.state}: only a detached volume is snapshotted` };
    case 'unknown':
      return { kind: 'wait', target, reason: `the volume's state is unknown (${seen.error})` };
  }
}

const oldestFirst = (a: SnapshotSeen, b: SnapshotSeen) =>
  a.startTime.getTime() - b.startTime.getTime() || a.snapshotId.localeCompare(b.snapshotId);

// ---- polling pending snapshots ------------------------------------------------------------------

export interface PendingRow {
  rowId: string;
  snapshotId: string;
  startedAt: Date;
}

export interface PollInput {
  now: Date;
  pending: PendingRow[];
  seen: ReadonlyMap<string, SnapshotSeen>;
  /** Ids EC2 said do not exist. */
  missing: ReadonlySet<string>;
}

export type PollAction =
  | { kind: 'complete'; rowId: string; snapshot: SnapshotSeen; reason: string }
  | { kind: 'fail'; rowId: string; snapshotId: string; reason: string };

export function decidePolls(input: PollInput): PollAction[] {
  return input.pending.flatMap((row): PollAction[] => {
    const snapshot = input.seen.get(row.snapshotId);
    if (snapshot?.state === 'completed') return [{ kind: 'complete', rowId: row.rowId, snapshot, reason: 'EC2 reports it completed' }];
    if (snapshot?.state === 'error') return [{ kind: 'fail', rowId: row.rowId, snapshotId: row.snapshotId, reason: 'EC2 reports it failed (error)' }];
    if (snapshot || !input.missing.has(row.snapshotId)) return [];
    if (minutesBetween(row.startedAt, input.now) < CONSISTENCY_MINUTES) return [];
    const reason = `EC2 does not know it ${CONSISTENCY_MINUTES}+ minutes after it started`;
    return [{ kind: 'fail', rowId: row.rowId, snapshotId: row.snapshotId, reason }];
  });
}

// ---- deleting the volume after its shutdown snapshot --------------------------------------------

export interface VolumeCandidate {
  rowId: string;
  snapshotId: string;
  volumeId: string;
  reservationId: string;
  /** The reservation is expired, cancelled or failed. */
  reservationEnded: boolean;
  /** A later snapshot row, or a later reservation, refers to this volume. */
  superseded: boolean;
  /** The disk row exists, so its holder can be checked. */
  diskKnown: boolean;
  /** The disk is held by another reservation and still points at this volume. */
  heldByOther: boolean;
}

export type VolumeAction =
  | { kind: 'delete-volume'; candidate: VolumeCandidate; reason: string }
  | { kind: 'keep-volume'; candidate: VolumeCandidate; reason: string }
  | { kind: 'volume-gone'; candidate: VolumeCandidate; reason: string }
  | { kind: 'hold-volume'; candidate: VolumeCandidate; reason: string };

export function decideVolumes(candidates: VolumeCandidate[], volumes: ReadonlyMap<string, VolumeSeen>, deleteAfterSnapshot: boolean): VolumeAction[] {
  if (!deleteAfterSnapshot) return [];
  return candidates.map((candidate) => {
    const [kind, reason] = judgeVolumeDeletion(candidate, volumes.get(candidate.volumeId) ?? { kind: 'unknown', error: 'not observed' });
    return { kind, candidate, reason };
  });
}

function judgeVolumeDeletion(c: VolumeCandidate, seen: VolumeSeen): [VolumeAction['kind'], string] {
  if (!c.reservationEnded) return ['hold-volume', 'the reservation has not ended'];
  if (seen.kind === 'missing') return ['volume-gone', 'EC2 says the volume is already gone'];
  if (c.superseded) return ['keep-volume', 'a newer reservation or snapshot uses this volume'];
  if (!c.diskKnown) return ['keep-volume', 'no disk row: cannot tell whether another reservation holds the volume'];
  if (c.heldByOther) return ['keep-volume', 'the disk is held by another reservation using this volume'];
  if (seen.kind === 'busy') return ['keep-volume', `the volume is ${seen.state} again: it is in use`];
  if (seen.kind === 'unknown') return ['hold-volume', `the volume's state is unknown (${seen.error})`];
  return ['delete-volume', `shutdown snapshot ${c.snapshotId} completed and the volume is detached`];
}
