/*
 * The shadow report's judgement, pure: a function's shadow decisions beside what the system still
 * in charge (the origin CronJob, the old watchdog) did to the same rows. A disagreement is any of:
 * we would have ended a row it left live; it ended a row on our ground we never decided to end; it
 * ended a row another way than we would have; it ended one later than we would have (past the
 * tolerance both systems' schedules need).
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
  disagreements: Disagreement[];
}

const KIND_ORDER: readonly DisagreementKind[] = ['we-would-act', 'they-acted', 'different-end', 'they-acted-later'];
const TERMINAL: Record<string, readonly string[]> = {
  reservation: ['expired', 'cancelled', 'failed'],
  lab: ['finished', 'failed'],
};

/** The statuses our action would have left the row in (any terminal one when the action does not say). */
export function expectedStatuses(entityKind: string, action: string): readonly string[] {
  if (action === 'fail' || action.startsWith('fail-')) return ['failed'];
  if (action === 'expire' || action.startsWith('expire-')) return ['expired'];
  if (action.startsWith('cancel')) return ['cancelled'];
  return TERMINAL[entityKind] ?? [];
}

export function judgeShadow(
  decisions: ShadowDecisionRow[],
  ended: EndedRow[],
  until: Date,
  toleranceSeconds: number,
): ShadowJudgement {
  const judgement: ShadowJudgement = { compared: decisions.length, agreed: 0, pending: 0, disagreements: [] };
  const toleranceMs = toleranceSeconds * 1000;
  for (const row of decisions) {
    const kind = judgeOne(row, until, toleranceMs);
    if (kind === 'agreed' || kind === 'pending') judgement[kind] += 1;
    else
      judgement.disagreements.push({
        kind,
        entity: { kind: row.entity_kind, id: row.entity_id },
        ours: ours(row),
        theirs: theirs(row.status ?? 'deleted', row.status_changed_at),
      });
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
  // Grouped by kind, so a reader sees each kind of disagreement together.
  judgement.disagreements.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      (a.entity.id < b.entity.id ? -1 : a.entity.id > b.entity.id ? 1 : 0),
  );
  return judgement;
}

function judgeOne(row: ShadowDecisionRow, until: Date, toleranceMs: number): DisagreementKind | 'agreed' | 'pending' {
  const first = row.first_decided_at.getTime();
  const ended = row.status === null || (TERMINAL[row.entity_kind] ?? []).includes(row.status);
  if (!ended) return until.getTime() - first > toleranceMs ? 'we-would-act' : 'pending';
  if (row.status !== null && !expectedStatuses(row.entity_kind, row.action).includes(row.status))
    return 'different-end';
  if (row.status_changed_at !== null && row.status_changed_at.getTime() - first > toleranceMs)
    return 'they-acted-later';
  return 'agreed';
}

function ours(row: ShadowDecisionRow): Ours {
  return {
    action: row.action,
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
