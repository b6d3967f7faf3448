/*
 * snapshot-sync's decisions, pure. Each stage of a run hands over the rows it loaded and what EC2
 * said, and gets actions with a reason. Destroy only on positive evidence (SPEC section 5): a volume
 * only after its shutdown snapshot completed, while EC2 says it is detached and nothing says a newer
 * reservation uses it; a snapshot only when EC2 confirms it is the one we mean and it is ours (or its
 * disk was soft-deleted and the date has passed, decide-deletions.ts). Anything unknown waits.
 */
import { ownershipOf, phaseOf } from './volume-state.js';
import type { VolumeSeen } from './volume-state.js';

export type { VolumeSeen } from './volume-state.js';

export interface ShutdownTarget {
  reservationId: string;
  userId: string;
  diskName: string | null;
  diskId: string | null;
  volumeId: string;
  /** The disk row's holder when it is another reservation: the disk moved on, so did its volume. */
  heldBy: string | null;
}

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
  | {
      kind: 'record';
      rowId: string;
      target: ShutdownTarget;
      snapshot: SnapshotSeen;
      duplicates: string[];
      reason: string;
    }
  /** `requested`: the row an earlier attempt left (claim it first); null: write a new row first. */
  | { kind: 'create'; requested: RequestedRow | null; target: ShutdownTarget; reason: string }
  | { kind: 'abandon'; rowId: string | null; target: ShutdownTarget; reason: string }
  /** Never snapshotted for this reservation: another holds the disk, or the volume is not its. */
  | {
      kind: 'refuse';
      rowId: string | null;
      target: ShutdownTarget;
      cause: 'disk-moved' | 'not-owned';
      reason: string;
      owner?: 'other' | 'none';
    }
  /** `escalate`: wait, but a person has to look now (the volume is in `error`). */
  | { kind: 'wait'; target: ShutdownTarget; reason: string; escalate?: boolean; tracked?: boolean };

export function decideShutdowns(input: ShutdownInput): ShutdownAction[] {
  const requested = input.requested.map((row) => judgeRequested(row, input));
  return [...requested, ...input.fresh.map((target) => judgeVolume(null, target, input.volumes))];
}

function judgeRequested(row: RequestedRow, input: ShutdownInput): ShutdownAction {
  const [first, ...others] = [...(input.byToken.get(row.requestToken) ?? [])].sort(oldestFirst);
  if (first) {
    const reason = `found ${first.snapshotId} by its request token: an earlier attempt created it`;
    return {
      kind: 'record',
      rowId: row.rowId,
      target: row.target,
      snapshot: first,
      duplicates: others.map((s) => s.snapshotId),
      reason,
    };
  }
  if (minutesBetween(row.updatedAt, input.now) < CONSISTENCY_MINUTES) {
    return {
      kind: 'wait',
      target: row.target,
      reason: 'requested moments ago: EC2 may not list the snapshot yet',
      tracked: false,
    };
  }
  return judgeVolume(row, row.target, input.volumes);
}

function judgeVolume(
  requested: RequestedRow | null,
  target: ShutdownTarget,
  volumes: ReadonlyMap<string, VolumeSeen>,
): ShutdownAction {
  const rowId = requested?.rowId ?? null;
  if (target.heldBy !== null) {
    return {
      kind: 'refuse',
      rowId,
      target,
      cause: 'disk-moved',
      reason: `the disk is held by reservation ${target.heldBy}: its teardown snapshots the volume, not this one`,
    };
  }
  const seen = volumes.get(target.volumeId);
  const { phase, detail } = phaseOf(seen);
  if (phase === 'gone')
    return { kind: 'abandon', rowId, target, reason: `EC2 says the volume is ${detail}: nothing to snapshot` };
  if (seen?.kind === 'seen') {
    const ownership = ownershipOf(seen.tags, target);
    if (!ownership.owned)
      return {
        kind: 'refuse',
        rowId,
        target,
        cause: 'not-owned',
        owner: ownership.owner,
        reason: `not this disk's volume: ${ownership.reason}`,
      };
  }
  switch (phase) {
    case 'detached':
      return { kind: 'create', requested, target, reason: 'the volume is detached (available)' };
    case 'broken':
      return {
        kind: 'wait',
        target,
        reason: 'the volume is in error: it cannot be snapshotted, a person has to look',
        escalate: true,
      };
    case 'unknown':
      return { kind: 'wait', target, reason: `the volume's state is unknown (${detail})` };
    default:
      return { kind: 'wait', target, reason: `the volume is ${detail}: only a detached volume is snapshotted` };
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
    if (snapshot?.state === 'completed')
      return [{ kind: 'complete', rowId: row.rowId, snapshot, reason: 'EC2 reports it completed' }];
    if (snapshot?.state === 'error')
      return [{ kind: 'fail', rowId: row.rowId, snapshotId: row.snapshotId, reason: 'EC2 reports it failed (error)' }];
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
  /** Whose disk the snapshot was of: the volume's tags must name it. */
  userId: string;
  diskName: string | null;
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
  /** Tags name another owner, or none: kept for good, and reported. */
  | { kind: 'refuse-volume'; candidate: VolumeCandidate; reason: string; owner: 'other' | 'none' }
  /** Proven gone: settled, and the disk row stops pointing at it. */
  | { kind: 'volume-gone'; candidate: VolumeCandidate; reason: string }
  /** `tracked`: a wait on EC2 that escalates once it lasts too long (`escalate`: at once). */
  | { kind: 'hold-volume'; candidate: VolumeCandidate; reason: string; tracked: boolean; escalate?: boolean };

export function decideVolumes(
  candidates: VolumeCandidate[],
  volumes: ReadonlyMap<string, VolumeSeen>,
  deleteAfterSnapshot: boolean,
): VolumeAction[] {
  if (!deleteAfterSnapshot) return [];
  return candidates.map((candidate) => judgeVolumeDeletion(candidate, volumes.get(candidate.volumeId)));
}

function judgeVolumeDeletion(c: VolumeCandidate, seen: VolumeSeen | undefined): VolumeAction {
  const { phase, detail } = phaseOf(seen);
  const act = <K extends 'delete-volume' | 'keep-volume' | 'volume-gone'>(kind: K, reason: string) => ({
    kind,
    candidate: c,
    reason,
  });
  const hold = (reason: string, tracked = true, escalate = false): VolumeAction => ({
    kind: 'hold-volume',
    candidate: c,
    reason,
    tracked,
    escalate,
  });
  if (!c.reservationEnded) return hold('the reservation has not ended', false);
  if (phase === 'gone') return act('volume-gone', `EC2 says the volume is ${detail}`);
  if (c.superseded) return act('keep-volume', 'a newer reservation or snapshot uses this volume');
  if (!c.diskKnown) return act('keep-volume', 'no disk row: cannot tell whether another reservation holds the volume');
  if (c.heldByOther) return act('keep-volume', 'the disk is held by another reservation using this volume');
  if (seen?.kind === 'seen') {
    const ownership = ownershipOf(seen.tags, c);
    if (!ownership.owned)
      return {
        kind: 'refuse-volume',
        candidate: c,
        owner: ownership.owner,
        reason: `not this disk's volume: ${ownership.reason}`,
      };
  }
  switch (phase) {
    case 'detached':
      return act('delete-volume', `shutdown snapshot ${c.snapshotId} completed and the volume is detached`);
    case 'attached':
      return act('keep-volume', `the volume is ${detail} again: it is in use`);
    case 'broken':
      return hold('the volume is in error: it is neither deleted nor kept, a person has to look', true, true);
    case 'unknown':
      return hold(`the volume's state is unknown (${detail})`);
    default:
      return hold(`the volume is ${detail}: decided once it settles`);
  }
}
