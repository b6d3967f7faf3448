/*
 * The shadow report's judges for the functions that do not end rows, pure: cleanup-pod against the
 * disk releases the origin writes, warn against its warning columns, oom-scan against its kill
 * columns. Each lists the rows the origin acted on that no decision of ours covers as `they-acted`.
 */
import type {
  OomDecisionRow,
  OomRecordedRow,
  OriginOomColumns,
  OriginWarningColumns,
  ReleasedDiskRow,
  TeardownDecisionRow,
  WarnDecisionRow,
  WarnedRow,
} from '../../db/queries/shadow-grounds.js';
import { empty, ours, tally, theyActed } from './shadow-report.js';
import type { Ours, ShadowJudgement, Theirs, Verdict } from './shadow-report.js';

/**
 * cleanup-pod: a teardown releases the disk the ended reservation holds; the origin's free writes
 * in_use = false, reservation_id = NULL and last_used. A disk still held by the ended reservation
 * past the tolerance is one they left; a disk another reservation holds now was released (and
 * taken again) at a time the row no longer tells. Teardowns without a disk have nothing to compare.
 */
export function judgeTeardowns(
  decisions: TeardownDecisionRow[],
  released: ReleasedDiskRow[],
  until: Date,
  toleranceSeconds: number,
): ShadowJudgement {
  const withDisk = decisions.filter((row) => row.disk_id !== null);
  const judgement = { ...empty(withDisk.length), uncompared: decisions.length - withDisk.length };
  const toleranceMs = toleranceSeconds * 1000;
  for (const row of withDisk) {
    tally(judgement, judgeTeardown(row, until, toleranceMs), row, ours(row), () => diskSide(row));
  }
  return theyActed(
    judgement,
    released,
    (disk) => ({ kind: 'disk', id: disk.disk_id }),
    (disk) => ({
      status: 'disk released',
      statusChangedAt: disk.last_used.toISOString(),
      evidence: {
        inUse: false,
        holder: null,
        lastUsed: disk.last_used.toISOString(),
        liveReservation: disk.live_reservation,
      },
    }),
  );
}

const reservation = (row: { entity_id: string }) => ({ kind: 'reservation', id: row.entity_id });

function judgeTeardown(row: TeardownDecisionRow, until: Date, toleranceMs: number): Verdict {
  const first = row.first_decided_at.getTime();
  if (row.disk_holder === row.entity_id) return until.getTime() - first > toleranceMs ? 'we-would-act' : 'pending';
  if (row.disk_holder === null && row.disk_last_used !== null && row.disk_last_used.getTime() - first > toleranceMs)
    return 'they-acted-later';
  return 'agreed';
}

function diskSide(row: TeardownDecisionRow): Theirs {
  const status =
    row.disk_holder === row.entity_id
      ? 'disk held'
      : row.disk_holder === null
        ? 'disk released'
        : 'disk held by another reservation';
  return {
    status,
    statusChangedAt: row.disk_holder === null ? (row.disk_last_used?.toISOString() ?? null) : null,
    evidence: {
      diskId: row.disk_id,
      inUse: row.disk_in_use,
      holder: row.disk_holder,
      lastUsed: row.disk_last_used?.toISOString() ?? null,
      reservationStatus: row.status,
    },
  };
}

/**
 * warn: per reservation and deadline, whether the origin recorded a warning for that deadline: a
 * last_warning_time from `maxLevelMinutes` (plus the tolerance) before the deadline up to the
 * deadline, or level flags while the deadline is still the reservation's (an extension clears
 * them). Its level picker differs from ours on purpose, so only lateness is judged, and only
 * when it recorded one level (last_warning_time is then its first warning too).
 */
export function judgeWarnings(
  decisions: WarnDecisionRow[],
  warned: WarnedRow[],
  until: Date,
  toleranceSeconds: number,
  maxLevelMinutes: number,
): ShadowJudgement {
  const judgement = empty(decisions.length);
  const toleranceMs = toleranceSeconds * 1000;
  for (const row of decisions) {
    const verdict = judgeWarning(row, until, toleranceMs, maxLevelMinutes);
    const decision: Ours = {
      ...ours(row),
      action: 'warn',
      inputs: { ...row.inputs, levels: [...row.levels].sort((a, b) => b - a) },
    };
    tally(judgement, verdict, { entity_kind: 'reservation', entity_id: row.entity_id }, decision, () =>
      warningSide(row, verdict === 'we-would-act' ? 'not warned' : 'warned'),
    );
  }
  return theyActed(judgement, warned, reservation, (row) => warningSide(row, 'warned'));
}

function judgeWarning(row: WarnDecisionRow, until: Date, toleranceMs: number, maxLevelMinutes: number): Verdict {
  const first = row.first_decided_at.getTime();
  const deadline = new Date(row.deadline).getTime();
  const last = row.last_warned_at?.getTime();
  const timed = last !== undefined && last >= deadline - maxLevelMinutes * 60_000 - toleranceMs && last <= deadline;
  const flags = flaggedLevels(row.warnings_sent);
  const flagged = flags.length > 0 && row.expires_at?.getTime() === deadline;
  if (!timed && !flagged) return until.getTime() - first > toleranceMs ? 'we-would-act' : 'pending';
  if (timed && flags.length <= 1 && last !== undefined && last - first > toleranceMs) return 'they-acted-later';
  return 'agreed';
}

/** The levels of the origin's `<N>min_warning_sent: true` flags, most urgent last. */
export function flaggedLevels(warningsSent: Record<string, unknown> | null): number[] {
  return Object.entries(warningsSent ?? {})
    .flatMap(([key, value]) => {
      const level = /^(\d+)min_warning_sent$/.exec(key)?.[1];
      return value === true && level !== undefined ? [Number(level)] : [];
    })
    .sort((a, b) => b - a);
}

function warningSide(row: OriginWarningColumns, status: string): Theirs {
  return {
    status,
    statusChangedAt: status === 'warned' ? (row.last_warned_at?.toISOString() ?? null) : null,
    evidence: {
      warningsSent: flaggedLevels(row.warnings_sent).map((level) => `${level}min_warning_sent`),
      lastWarningTime: row.last_warned_at?.toISOString() ?? null,
      expiresAt: row.expires_at?.toISOString() ?? null,
    },
  };
}

/**
 * oom-scan: the origin records a kill by setting last_oom_at to the container's finish time (its
 * own time when there is none) and adding one to oom_count. A kill of ours counts as recorded by
 * them when their last_oom_at is at or after its finish time (or, without one, within the
 * tolerance of our first decision). Their record carries no time of writing, so lateness is not judged.
 */
export function judgeOomKills(
  decisions: OomDecisionRow[],
  recorded: OomRecordedRow[],
  until: Date,
  toleranceSeconds: number,
): ShadowJudgement {
  const judgement = empty(decisions.length);
  const toleranceMs = toleranceSeconds * 1000;
  for (const row of decisions) {
    const verdict = judgeOomKill(row, until, toleranceMs);
    const decision: Ours = { ...ours(row), inputs: { ...row.inputs, kills: row.kills } };
    tally(judgement, verdict, { entity_kind: 'reservation', entity_id: row.entity_id }, decision, () =>
      oomSide(row, verdict === 'we-would-act' ? 'no kill recorded' : 'kill recorded'),
    );
  }
  return theyActed(judgement, recorded, reservation, (row) => oomSide(row, 'kill recorded'));
}

function judgeOomKill(row: OomDecisionRow, until: Date, toleranceMs: number): Verdict {
  const first = row.first_decided_at.getTime();
  const theirs = row.last_oom_at?.getTime();
  const since = row.latest_finished_at?.getTime() ?? first - toleranceMs;
  if (theirs !== undefined && theirs >= since) return 'agreed';
  return until.getTime() - first > toleranceMs ? 'we-would-act' : 'pending';
}

function oomSide(row: OriginOomColumns, status: string): Theirs {
  return {
    status,
    statusChangedAt: status === 'kill recorded' ? (row.last_oom_at?.toISOString() ?? null) : null,
    evidence: {
      oomCount: row.oom_count,
      lastOomAt: row.last_oom_at?.toISOString() ?? null,
      oomContainer: row.oom_container,
    },
  };
}
