/*
 * expire's decisions, pure: which reservations end now, and why. Destroy only on positive evidence
 * (SPEC section 5): a deadline read from the row (compare-and-set on it later), a pod the API
 * definitely reported as gone twice a minute apart, a pod the API reported dead. An unknown pod
 * state or a missing deadline changes nothing.
 */
import { podHealth } from '../../shared/pod-health.js';
import type { PodSummary } from '../../shared/pod-health.js';

export interface ActiveReservation {
  reservationId: string;
  /** null (or an invalid Date) when the column is NULL or unreadable: the row is skipped. */
  expiresAt: Date | null;
  launchedAt: Date | null;
  statusChangedAt: Date;
  podName: string | null;
}

export interface WaitingReservation {
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
  maxItems: number;
}

export interface ExpireInput {
  now: Date;
  active: ActiveReservation[];
  waiting: WaitingReservation[];
  pods: ReadonlyMap<string, PodObservation>;
  /** When each reservation's pod was first seen absent, from earlier runs. */
  absentSince: ReadonlyMap<string, Date>;
  /**
   * Reservations whose pod the API server itself reported deleted (a pod-change event). With the
   * 404 of this run that makes two independent observations, so no waiting for the next run.
   */
  deletedByEvent?: ReadonlySet<string>;
  policy: ExpirePolicy;
}

export const POD_GONE_REASON = 'Pod was manually deleted or removed outside of reservation system';

export type EndAction =
  | { kind: 'expire'; reservationId: string; expectedExpiresAt: Date; reason: string }
  | { kind: 'expire-pod-gone'; reservationId: string; expectedExpiresAt: Date; reason: string }
  | { kind: 'fail-dead-pod'; reservationId: string; expectedExpiresAt: Date; reason: string }
  | { kind: 'fail-stuck-preparing'; reservationId: string; expectedStatusChangedAt: Date; reason: string }
  | { kind: 'cancel-stale'; reservationId: string; expectedStatus: 'queued' | 'pending'; expectedStatusChangedAt: Date; reason: string };

export type BookkeepingAction =
  | { kind: 'record-absence'; reservationId: string; observedAt: Date; reason: string }
  | { kind: 'clear-absence'; reservationId: string; reason: string };

export interface ExpireDecision {
  /** Transitions to apply, most urgent first, at most maxItems. */
  ends: EndAction[];
  /** Transitions left for the next run because of maxItems. */
  deferred: number;
  bookkeeping: BookkeepingAction[];
  /** Active reservations without a usable deadline: skipped, logged and counted. */
  invalidDeadlines: string[];
}

const MINUTE_MS = 60_000;

export function decide(input: ExpireInput): ExpireDecision {
  const ends: EndAction[] = [];
  const bookkeeping: BookkeepingAction[] = [];
  const invalidDeadlines: string[] = [];
  for (const row of input.active) {
    if (row.expiresAt === null || Number.isNaN(row.expiresAt.getTime())) {
      // The origin read a missing deadline as 0 and deleted the pod: skip the row entirely.
      invalidDeadlines.push(row.reservationId);
      continue;
    }
    const verdict = judgeActive({ ...row, expiresAt: row.expiresAt }, input);
    if (verdict.end) ends.push(verdict.end);
    if (verdict.bookkeeping) bookkeeping.push(verdict.bookkeeping);
  }
  for (const reservation of input.waiting) {
    const end = judgeWaiting(reservation, input.now, input.policy);
    if (end) ends.push(end);
  }
  const ordered = ends.sort((a, b) => urgency(a) - urgency(b) || overdueFirst(a, b));
  const limit = Math.max(0, input.policy.maxItems);
  return { ends: ordered.slice(0, limit), deferred: Math.max(0, ordered.length - limit), bookkeeping, invalidDeadlines };
}

interface Verdict {
  end?: EndAction;
  bookkeeping?: BookkeepingAction;
}

type Deadlined = ActiveReservation & { expiresAt: Date };

function judgeActive(reservation: Deadlined, input: ExpireInput): Verdict {
  const { now, policy } = input;
  const { reservationId, expiresAt } = reservation;
  if (expiresAt.getTime() + policy.gracePeriodSeconds * 1000 < now.getTime()) {
    const reason = `Reservation expired at ${expiresAt.toISOString()} (grace ${policy.gracePeriodSeconds} s)`;
    return { end: { kind: 'expire', reservationId, expectedExpiresAt: expiresAt, reason } };
  }
  const observation = input.pods.get(reservationId) ?? { kind: 'unknown', error: 'not observed' };
  if (observation.kind === 'present') return judgePresentPod(reservation, observation.pod, input);
  if (observation.kind === 'absent') return judgeAbsentPod(reservation, input);
  return {};
}

function judgePresentPod(reservation: Deadlined, pod: PodSummary, input: ExpireInput): Verdict {
  const { reservationId, expiresAt } = reservation;
  const bookkeeping: BookkeepingAction | undefined = input.absentSince.has(reservationId)
    ? { kind: 'clear-absence', reservationId, reason: 'pod is present again' }
    : undefined;
  const health = podHealth(pod, input.policy.mainContainer);
  if (!health.dead) return { bookkeeping };
  return { end: { kind: 'fail-dead-pod', reservationId, expectedExpiresAt: expiresAt, reason: health.reason }, bookkeeping };
}

function judgeAbsentPod(reservation: Deadlined, input: ExpireInput): Verdict {
  const { now, policy } = input;
  const { reservationId, expiresAt } = reservation;
  const launchedAt = reservation.launchedAt ?? reservation.statusChangedAt;
  if (now.getTime() - launchedAt.getTime() < policy.launchGraceMinutes * MINUTE_MS) return {};
  const gone = { end: { kind: 'expire-pod-gone' as const, reservationId, expectedExpiresAt: expiresAt, reason: POD_GONE_REASON } };
  if (input.deletedByEvent?.has(reservationId)) return gone;
  const firstSeen = input.absentSince.get(reservationId);
  if (firstSeen === undefined) {
    return { bookkeeping: { kind: 'record-absence', reservationId, observedAt: now, reason: 'pod not found (first observation)' } };
  }
  if (now.getTime() - firstSeen.getTime() < policy.podAbsentConfirmSeconds * 1000) return {};
  return gone;
}

function judgeWaiting(reservation: WaitingReservation, now: Date, policy: ExpirePolicy): EndAction | undefined {
  const waitedMs = now.getTime() - reservation.statusChangedAt.getTime();
  const { reservationId, statusChangedAt } = reservation;
  if (reservation.status === 'preparing') {
    if (waitedMs <= policy.preparingTimeoutMinutes * MINUTE_MS) return undefined;
    const reason = `Reservation stuck in preparing state for more than ${describeMinutes(policy.preparingTimeoutMinutes)}`;
    return { kind: 'fail-stuck-preparing', reservationId, expectedStatusChangedAt: statusChangedAt, reason };
  }
  if (waitedMs <= policy.queueTimeoutHours * 60 * MINUTE_MS) return undefined;
  const reason = `Stale reservation - exceeded ${policy.queueTimeoutHours} hour queue time`;
  return { kind: 'cancel-stale', reservationId, expectedStatus: reservation.status, expectedStatusChangedAt: statusChangedAt, reason };
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
