/*
 * The shadow report's judgement, pure: a function's shadow decisions beside what the system still
 * in charge (the origin CronJob, the old watchdog) did to the same rows. A disagreement is any of:
 * we would have acted on a row it left alone; it acted on a row on our ground we never decided to
 * act on; it ended a row another way than we would have; it acted later than we would have (past
 * the tolerance both systems' schedules need). Each function is compared on the ground the origin
 * leaves in the database (SHADOW_GROUNDS); where it leaves none, the report says so.
 */
import type {
  EndedRow,
  OriginWarningColumns,
  ReleasedDiskRow,
  ShadowDecisionRow,
  TeardownDecisionRow,
  WarnDecisionRow,
  WarnedRow,
} from '../../db/queries/shadow.js';

export type DisagreementKind = 'we-would-act' | 'they-acted' | 'different-end' | 'they-acted-later';

export interface Ours {
  action: string;
  reason: string;
  inputs: Record<string, unknown>;
  firstDecidedAt: string;
  lastDecidedAt: string;
  decisions: number;
}

export interface Theirs {
  /** `deleted` when the row is gone. */
  status: string;
  statusChangedAt: string | null;
  /** The origin's columns the verdict rests on, where the status alone does not say it. */
  evidence?: Record<string, unknown>;
}

export interface Disagreement {
  kind: DisagreementKind;
  entity: { kind: string; id: string };
  ours: Ours | null;
  theirs: Theirs;
}

export interface ShadowJudgement {
  compared: number;
  agreed: number;
  /** Decided by us within the tolerance and not yet acted on by them: too early to tell. */
  pending: number;
  /** Shadow decisions with nothing of the origin's to compare them with (e.g. a teardown without a disk). */
  uncompared: number;
  disagreements: Disagreement[];
}

export interface ShadowGround {
  /** One line: what is compared, and what the origin records nothing of. */
  ground: string;
  /** What the head line counts: "row(s) we would have ended". Absent: nothing is compared. */
  noun?: string;
  labels: Record<DisagreementKind, string>;
}

const ENDS: Record<DisagreementKind, string> = {
  'we-would-act': 'we would have ended it; it is still live',
  'they-acted': 'they ended it; we would not have',
  'different-end': 'they ended it another way',
  'they-acted-later': 'they ended it later than we would have',
};
const NONE = { ...ENDS };

export const SHADOW_GROUNDS: Record<string, ShadowGround> = {
  expire: {
    ground: 'compared: reservations the origin expired (reservations.status, status_changed_at)',
    noun: 'row(s) we would have ended',
    labels: ENDS,
  },
  'ending-watchdog': {
    ground: 'compared: labs the old watchdog finished or failed past its limit (labs.status, status_changed_at)',
    noun: 'row(s) we would have ended',
    labels: ENDS,
  },
  'cleanup-pod': {
    ground:
      'compared: disk releases (disks.in_use, reservation_id, last_used); the origin records no pod or service deletion, so a teardown without a disk is not compared',
    noun: 'teardown(s) with a disk',
    labels: {
      'we-would-act': 'we would have released its disk; the ended reservation still holds it',
      'they-acted': 'they released the disk; no teardown of ours would have',
      'different-end': 'they released it another way',
      'they-acted-later': 'they released its disk later than we would have',
    },
  },
  warn: {
    ground:
      "compared: reservations.warnings_sent and last_warning_time (the origin's PostgreSQL job fails to write them, origin bug A-3: its warnings then read as not recorded)",
    noun: 'warning(s) we would have sent',
    labels: {
      'we-would-act': 'we would have warned; they recorded no warning',
      'they-acted': 'they warned; we would not have',
      'different-end': 'they warned another way',
      'they-acted-later': 'they warned later than we would have',
    },
  },
  'snapshot-sync': {
    ground: 'the origin records no snapshot or volume deletion in the database (EC2 only); compared: none',
    labels: NONE,
  },
  'oom-scan': {
    ground:
      "the origin's kill records (reservations.oom_count, last_oom_at) are not compared (its count moves every run without a finish time, A-15); compared: none",
    labels: NONE,
  },
};

/** A function this table does not name: nothing is compared. */
export function groundOf(fn: string): ShadowGround {
  return SHADOW_GROUNDS[fn] ?? { ground: 'no origin record to compare; compared: none', labels: NONE };
}

const KIND_ORDER: readonly DisagreementKind[] = ['we-would-act', 'they-acted', 'different-end', 'they-acted-later'];
const TERMINAL: Record<string, readonly string[]> = {
  reservation: ['expired', 'cancelled', 'failed'],
  lab: ['finished', 'failed'],
};

type Verdict = DisagreementKind | 'agreed' | 'pending';

/** The statuses our action would have left the row in (any terminal one when the action does not say). */
export function expectedStatuses(entityKind: string, action: string): readonly string[] {
  if (action === 'fail' || action.startsWith('fail-')) return ['failed'];
  if (action === 'expire' || action.startsWith('expire-')) return ['expired'];
  if (action.startsWith('cancel')) return ['cancelled'];
  return TERMINAL[entityKind] ?? [];
}

/** expire and ending-watchdog: the rows we would have ended against the statuses the origin wrote. */
export function judgeShadow(
  decisions: ShadowDecisionRow[],
  ended: EndedRow[],
  until: Date,
  toleranceSeconds: number,
): ShadowJudgement {
  const judgement = empty(decisions.length);
  const toleranceMs = toleranceSeconds * 1000;
  for (const row of decisions) {
    tally(judgement, judgeEnd(row, until, toleranceMs), row, ours(row), () =>
      theirs(row.status ?? 'deleted', row.status_changed_at),
    );
  }
  const decided = new Set(decisions.map((row) => `${row.entity_kind}/${row.entity_id}`));
  for (const row of ended) {
    if (decided.has(`${row.entity_kind}/${row.entity_id}`)) continue;
    judgement.disagreements.push({
      kind: 'they-acted',
      entity: { kind: row.entity_kind, id: row.entity_id },
      ours: null,
      theirs: theirs(row.status, row.status_changed_at),
    });
  }
  return sorted(judgement);
}

function judgeEnd(row: ShadowDecisionRow, until: Date, toleranceMs: number): Verdict {
  const first = row.first_decided_at.getTime();
  const ended = row.status === null || (TERMINAL[row.entity_kind] ?? []).includes(row.status);
  if (!ended) return until.getTime() - first > toleranceMs ? 'we-would-act' : 'pending';
  if (row.status !== null && !expectedStatuses(row.entity_kind, row.action).includes(row.status))
    return 'different-end';
  if (row.status_changed_at !== null && row.status_changed_at.getTime() - first > toleranceMs)
    return 'they-acted-later';
  return 'agreed';
}

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
  for (const disk of released) {
    judgement.disagreements.push({
      kind: 'they-acted',
      entity: { kind: 'disk', id: disk.disk_id },
      ours: null,
      theirs: {
        status: 'disk released',
        statusChangedAt: disk.last_used.toISOString(),
        evidence: {
          inUse: false,
          holder: null,
          lastUsed: disk.last_used.toISOString(),
          liveReservation: disk.live_reservation,
        },
      },
    });
  }
  return sorted(judgement);
}

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
  for (const row of warned) {
    judgement.disagreements.push({
      kind: 'they-acted',
      entity: { kind: 'reservation', id: row.entity_id },
      ours: null,
      theirs: warningSide(row, 'warned'),
    });
  }
  return sorted(judgement);
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

function empty(compared: number): ShadowJudgement {
  return { compared, agreed: 0, pending: 0, uncompared: 0, disagreements: [] };
}

function tally(
  judgement: ShadowJudgement,
  verdict: Verdict,
  row: { entity_kind: string; entity_id: string },
  decision: Ours,
  side: () => Theirs,
): void {
  if (verdict === 'agreed' || verdict === 'pending') judgement[verdict] += 1;
  else
    judgement.disagreements.push({
      kind: verdict,
      entity: { kind: row.entity_kind, id: row.entity_id },
      ours: decision,
      theirs: side(),
    });
}

// Grouped by kind, so a reader sees each kind of disagreement together.
function sorted(judgement: ShadowJudgement): ShadowJudgement {
  judgement.disagreements.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      (a.entity.id < b.entity.id ? -1 : a.entity.id > b.entity.id ? 1 : 0),
  );
  return judgement;
}

function ours(row: {
  action?: string;
  reason: string;
  inputs: Record<string, unknown>;
  first_decided_at: Date;
  last_decided_at: Date;
  decisions: number;
}): Ours {
  return {
    action: row.action ?? '',
    reason: row.reason,
    inputs: row.inputs,
    firstDecidedAt: row.first_decided_at.toISOString(),
    lastDecidedAt: row.last_decided_at.toISOString(),
    decisions: row.decisions,
  };
}

function theirs(status: string, changedAt: Date | null): Theirs {
  return { status, statusChangedAt: changedAt?.toISOString() ?? null };
}
