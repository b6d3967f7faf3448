/*
 * expire's rules, pure: which reservations end now, and why, and what this run saw of each pod.
 * Destroy only on positive evidence (SPEC section 5): a deadline read from the row (compare-and-set
 * on it later), a pod the API definitely reported as gone twice a minute apart, a pod the API
 * reported dead. An unknown pod state or a missing deadline changes nothing. The grace rule and
 * the absence rule live here only; the SQL keeps an index predicate (see expire-rule.test.ts).
 */
import type { Action, DecideContext, Plan } from '../../shared/plan.js';
import { podHealth } from '../../shared/kube/pod-health.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';

/** The row's pod and deadline as read: what an end's event announces (the end applies only while the row still says so). */
export interface RowFacts {
  podName: string | null;
  namespace: string | null;
  expiresAt: Date | null;
}

export interface ActiveReservation extends RowFacts {
  reservationId: string;
  /** null (or an invalid Date) when the column is NULL or unreadable: the row is skipped. */
  expiresAt: Date | null;
  launchedAt: Date | null;
  statusChangedAt: Date;
}

export interface WaitingReservation extends RowFacts {
  reservationId: string;
  status: 'queued' | 'pending' | 'preparing';
  statusChangedAt: Date;
}

/** What the cluster said about a reservation's pod in this run. */
export type PodObservation =
  | { kind: 'present'; pod: PodSummary }
  | { kind: 'absent' } // a definite 404 for the pod's name
  | { kind: 'unknown'; error: string }; // any other answer, or not asked

export interface ExpirePolicy {
  gracePeriodSeconds: number;
  launchGraceMinutes: number;
  podAbsentConfirmSeconds: number;
  preparingTimeoutMinutes: number;
  queueTimeoutHours: number;
  mainContainer: string;
}

/** What load gathered: candidates, the pods observed this run, and what earlier runs saw. */
export interface ExpireLoad {
  active: ActiveReservation[];
  waiting: WaitingReservation[];
  /** Observations of this run, recorded as the plan's upkeep (a dry run records nothing). */
  pods: ReadonlyMap<string, PodObservation>;
  /** When each reservation's pod was first seen absent, from earlier runs. */
  absentSince: ReadonlyMap<string, Date>;
  /**
   * Reservations whose pod the API server itself reported deleted (a pod-change event). With the
   * 404 of this run that makes two independent observations, so no waiting for the next run.
   */
  deletedByEvent?: ReadonlySet<string>;
  /** Due rows counted beyond those loaded (the reads stop at maxItems + 1). */
  due?: { active: number; waiting: number };
  /** Counts load reports as they are (e.g. active rows without a deadline, pod events). */
  counts?: Record<string, number>;
  policy: ExpirePolicy;
}

export type ExpireInput = ExpireLoad & { now: Date };

export const POD_GONE_REASON = 'Pod was manually deleted or removed outside of reservation system';

type EndBase = Action & { reservationId: string; reason: string; announced: RowFacts };
export type EndAction =
  | (EndBase & { kind: 'expire' | 'expire-pod-gone' | 'fail-dead-pod'; expectedExpiresAt: Date })
  | (EndBase & { kind: 'fail-stuck-preparing'; expectedStatusChangedAt: Date })
  | (EndBase & { kind: 'cancel-stale'; expectedStatus: 'queued' | 'pending'; expectedStatusChangedAt: Date });

/** The plan's upkeep: what this run saw of a pod, recorded for the absence rule of the next run. */
export interface SeenPod {
  reservationId: string;
  kind: PodObservation['kind'];
  error?: string;
}

export type ExpireAction = EndAction;

const MINUTE_MS = 60_000;

export function decideExpire(loaded: ExpireLoad, context: DecideContext<unknown>): Plan<ExpireAction, SeenPod> {
  return decide({ ...loaded, now: context.now });
}

/** Actions most urgent first: all of them (the kernel defers what is past maxItems or the budget). */
export function decide(input: ExpireInput): Plan<ExpireAction, SeenPod> {
  const ends: EndAction[] = [];
  let invalid = 0;
  for (const row of input.active) {
    if (row.expiresAt === null || Number.isNaN(row.expiresAt.getTime())) {
      // The origin read a missing deadline as 0 and deleted the pod: skip the row entirely.
      invalid += 1;
      continue;
    }
    const end = judgeActive({ ...row, expiresAt: row.expiresAt }, input);
    if (end) ends.push(end);
  }
  for (const reservation of input.waiting) {
    const end = judgeWaiting(reservation, input.now, input.policy);
    if (end) ends.push(end);
  }
  const ordered = ends.sort((a, b) => urgency(a) - urgency(b) || overdueFirst(a, b));
  const counts: Record<string, number> = { ...input.counts };
  if (invalid > 0) counts.skipped_null_expiry = (counts.skipped_null_expiry ?? 0) + invalid;
  // Only decide can tell which loaded rows are due (the grace rule), so it reports the due rows the
  // reads left out; the kernel counts them with the work it leaves for the next run.
  return { actions: ordered, upkeep: seen(input), counts, backlog: unloadedBacklog(input) };
}

/** The deadline rule: past deadline + grace, to the millisecond. */
export function pastGrace(expiresAt: Date, now: Date, policy: Pick<ExpirePolicy, 'gracePeriodSeconds'>): boolean {
  return expiresAt.getTime() + policy.gracePeriodSeconds * 1000 < now.getTime();
}

/**
 * The absence rule: since when a pod has been seen absent, given what earlier runs saw and this
 * run's observation. Absent keeps the first absence time, present clears it, unknown (an API
 * error) changes nothing, so it neither confirms nor resets.
 */
export function absentSince(
  previous: Date | undefined,
  observation: PodObservation['kind'],
  now: Date,
): Date | undefined {
  if (observation === 'absent') return previous ?? now;
  if (observation === 'present') return undefined;
  return previous;
}

type Deadlined = ActiveReservation & { expiresAt: Date };

function judgeActive(reservation: Deadlined, input: ExpireInput): EndAction | undefined {
  const { now, policy } = input;
  const { reservationId, expiresAt } = reservation;
  if (pastGrace(expiresAt, now, policy)) {
    return end(
      'expire',
      reservation,
      `Reservation expired at ${expiresAt.toISOString()} (grace ${policy.gracePeriodSeconds} s)`,
      { expectedExpiresAt: expiresAt },
    );
  }
  const observation = input.pods.get(reservationId) ?? { kind: 'unknown', error: 'not observed' };
  if (observation.kind === 'present') {
    const health = podHealth(observation.pod, policy.mainContainer);
    return health.dead ? end('fail-dead-pod', reservation, health.reason, { expectedExpiresAt: expiresAt }) : undefined;
  }
  if (observation.kind === 'absent') return judgeAbsentPod(reservation, input);
  return undefined;
}

function judgeAbsentPod(reservation: Deadlined, input: ExpireInput): EndAction | undefined {
  const { now, policy } = input;
  const { reservationId, expiresAt } = reservation;
  const launchedAt = reservation.launchedAt ?? reservation.statusChangedAt;
  if (now.getTime() - launchedAt.getTime() < policy.launchGraceMinutes * MINUTE_MS) return undefined;
  const gone = end('expire-pod-gone', reservation, POD_GONE_REASON, { expectedExpiresAt: expiresAt });
  if (input.deletedByEvent?.has(reservationId)) return gone;
  const since = absentSince(input.absentSince.get(reservationId), 'absent', now)!;
  // The first 404 only starts the clock: a second one at least a minute later confirms it.
  if (now.getTime() - since.getTime() < policy.podAbsentConfirmSeconds * 1000) return undefined;
  return gone;
}

function judgeWaiting(reservation: WaitingReservation, now: Date, policy: ExpirePolicy): EndAction | undefined {
  const waitedMs = now.getTime() - reservation.statusChangedAt.getTime();
  const { statusChangedAt } = reservation;
  if (reservation.status === 'preparing') {
    if (waitedMs <= policy.preparingTimeoutMinutes * MINUTE_MS) return undefined;
    const reason = `Reservation stuck in preparing state for more than ${describeMinutes(policy.preparingTimeoutMinutes)}`;
    return end('fail-stuck-preparing', reservation, reason, { expectedStatusChangedAt: statusChangedAt });
  }
  if (waitedMs <= policy.queueTimeoutHours * 60 * MINUTE_MS) return undefined;
  const reason = `Stale reservation - exceeded ${policy.queueTimeoutHours} hour queue time`;
  return end('cancel-stale', reservation, reason, {
    expectedStatus: reservation.status,
    expectedStatusChangedAt: statusChangedAt,
  });
}

type Expected = { expectedExpiresAt: Date } | { expectedStatusChangedAt: Date; expectedStatus?: 'queued' | 'pending' };

function end(
  kind: EndAction['kind'],
  row: RowFacts & { reservationId: string },
  reason: string,
  expected: Expected,
): EndAction {
  const { reservationId } = row;
  const inputs =
    'expectedExpiresAt' in expected
      ? { expiresAt: expected.expectedExpiresAt.toISOString() }
      : { statusChangedAt: expected.expectedStatusChangedAt.toISOString() };
  const entity = { kind: 'reservation' as const, id: reservationId };
  // Every end is destructive: the safety rails (breaker, clock sanity, shadow mode) weigh it.
  return {
    kind,
    reservationId,
    reason,
    ...expected,
    announced: { podName: row.podName, namespace: row.namespace, expiresAt: row.expiresAt },
    entity,
    inputs,
    destructive: true,
    item: { reservationId, action: kind, reason },
  } as EndAction;
}

function seen(input: ExpireInput): SeenPod[] {
  return [...input.pods].map(([reservationId, observation]) => ({
    reservationId,
    kind: observation.kind,
    ...(observation.kind === 'unknown' ? { error: observation.error } : {}),
  }));
}

/** Due rows the reads did not return (they stop at maxItems + 1): left for the next run. */
function unloadedBacklog(input: ExpireInput): number {
  if (!input.due) return 0;
  const overdueSeen = input.active.filter(
    (row) => row.expiresAt !== null && pastGrace(row.expiresAt, input.now, input.policy),
  ).length;
  return Math.max(0, input.due.active - overdueSeen) + Math.max(0, input.due.waiting - input.waiting.length);
}

function describeMinutes(minutes: number): string {
  if (minutes % 60 === 0) return minutes === 60 ? '1 hour' : `${minutes / 60} hours`;
  return `${minutes} minutes`;
}

// Deadlines first (users were promised that time), then dead and vanished pods, then the queues.
const URGENCY: Record<EndAction['kind'], number> = {
  expire: 0,
  'fail-dead-pod': 1,
  'expire-pod-gone': 2,
  'fail-stuck-preparing': 3,
  'cancel-stale': 4,
};

function urgency(action: EndAction): number {
  return URGENCY[action.kind];
}

function overdueFirst(a: EndAction, b: EndAction): number {
  const deadline = (action: EndAction) => (action.kind === 'expire' ? action.expectedExpiresAt.getTime() : 0);
  return deadline(a) - deadline(b);
}
