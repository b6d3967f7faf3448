/*
 * The shadow report's judgement, pure: a function's shadow decisions beside what the system still
 * in charge (the origin CronJob, the old watchdog) did to the same rows. A disagreement is any of:
 * we would have acted on a row it left alone; it acted on a row on our ground we never decided to
 * act on; it ended a row another way than we would have; it acted later than we would have (past
 * the tolerance both systems' schedules need). Each function is compared on the ground the origin
 * leaves in the database (SHADOW_GROUNDS; the judges beyond ends are in shadow-grounds.ts); where it
 * leaves none, the report says so.
 */
import type { EndedRow, ShadowDecisionRow } from '../../db/queries/shadow.js';

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

const SHADOW_GROUNDS: Record<string, ShadowGround> = {
  expire: {
    ground:
      'compared: reservations the origin expired (reservations.status, status_changed_at, failure_reason), pod-gone ends included (shadow runs record their pod sightings)',
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
      "compared: reservations.oom_count, last_oom_at and oom_container (the origin's record of a kill; it writes no time of recording, so lateness is not judged)",
    noun: 'reservation(s) with kills we would have recorded',
    labels: {
      'we-would-act': 'we would have recorded a kill (and told the user); they recorded none',
      'they-acted': 'they recorded a kill; we saw none',
      'different-end': 'they recorded it another way',
      'they-acted-later': 'they recorded it later than we would have',
    },
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

export type Verdict = DisagreementKind | 'agreed' | 'pending';

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
      theirs(row.status ?? 'deleted', row.status_changed_at, row.failure_reason),
    );
  }
  const decided = new Set(decisions.map((row) => `${row.entity_kind}/${row.entity_id}`));
  const alone = ended.filter((row) => !decided.has(`${row.entity_kind}/${row.entity_id}`));
  return theyActed(
    judgement,
    alone,
    (row) => ({ kind: row.entity_kind, id: row.entity_id }),
    (row) => theirs(row.status, row.status_changed_at, row.failure_reason),
  );
}

/** The rows the origin acted on that no decision of ours covers, each a `they-acted` disagreement; then sorted. */
export function theyActed<T>(
  judgement: ShadowJudgement,
  rows: T[],
  entity: (row: T) => { kind: string; id: string },
  side: (row: T) => Theirs,
): ShadowJudgement {
  for (const row of rows) {
    judgement.disagreements.push({ kind: 'they-acted', entity: entity(row), ours: null, theirs: side(row) });
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

export function empty(compared: number): ShadowJudgement {
  return { compared, agreed: 0, pending: 0, uncompared: 0, disagreements: [] };
}

export function tally(
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
export function sorted(judgement: ShadowJudgement): ShadowJudgement {
  judgement.disagreements.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      (a.entity.id < b.entity.id ? -1 : a.entity.id > b.entity.id ? 1 : 0),
  );
  return judgement;
}

export function ours(row: {
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

/** The origin's reason goes with its status: a pod-gone expiry says so (see the expire ground). */
function theirs(status: string, changedAt: Date | null, failureReason?: string | null): Theirs {
  const side: Theirs = { status, statusChangedAt: changedAt?.toISOString() ?? null };
  return failureReason ? { ...side, evidence: { failureReason } } : side;
}
