/*
 * warn's decisions, pure: which reservations get which warning now, and whether a pod may carry it.
 * Per reservation, the most urgent level already crossed and not yet sent for the *current*
 * deadline (the origin picked the least urgent one, A-3); never a level less urgent than one
 * already sent; never after the deadline. A level whose claim was abandoned by a killed run is
 * delivered again to the pod file, without the broadcast (SPEC 2.1). Owed webhook notices follow
 * the warnings. The kernel runs the actions in this order and defers the rest to the next run.
 */
import { isAbandoned } from '../../shared/notices/claims.js';
import type { Action, DecideContext, Plan } from '../../shared/plan.js';

export interface DueReservation {
  reservationId: string;
  expiresAt: Date;
  podName: string | null;
  namespace: string;
}

export interface WarnInput {
  now: Date;
  reservations: DueReservation[];
  /** Levels already delivered (or being delivered by a live run), per reservation, for its current deadline. */
  sentLevels: ReadonlyMap<string, readonly number[]>;
  /** Levels whose claim a killed run left behind, per reservation, for its current deadline. */
  abandonedLevels?: ReadonlyMap<string, readonly number[]>;
  /** Most urgent last is not assumed: any order, duplicates allowed. */
  levelsMinutes: readonly number[];
}

export interface WarnAction extends Action {
  kind: 'warn';
  reservationId: string;
  podName: string;
  namespace: string;
  expiresAt: Date;
  levelMinutes: number;
  /** Whole minutes left, never negative: the N of WARN_EXPIRES_IN_<N>MIN.txt. */
  minutesLeft: number;
  /** Delivered again after a killed run: the file only, since the broadcast may have gone out. */
  redelivery: boolean;
  /** The pod could not be checked: not delivered, recorded as a failed attempt and retried next run. */
  podUnknown?: string;
}

export interface WarnSkip {
  reservationId: string;
  reason: 'no-pod-name';
}

export interface WarnDecision {
  warnings: WarnAction[];
  skipped: WarnSkip[];
}

const MINUTE_MS = 60_000;

export function decide(input: WarnInput): WarnDecision {
  const levels = [...new Set(input.levelsMinutes)].sort((a, b) => a - b); // most urgent first
  const warnings: WarnAction[] = [];
  const skipped: WarnSkip[] = [];
  for (const reservation of input.reservations) {
    const id = reservation.reservationId;
    const due = levelToSend(
      reservation,
      input.now,
      levels,
      input.sentLevels.get(id) ?? [],
      input.abandonedLevels?.get(id) ?? [],
    );
    if (due === undefined) continue;
    if (reservation.podName === null) {
      skipped.push({ reservationId: id, reason: 'no-pod-name' });
      continue;
    }
    warnings.push(toAction(reservation, reservation.podName, due, input.now));
  }
  // The closest deadlines first, so what waits for the next run is the least urgent.
  warnings.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime());
  return { warnings, skipped };
}

interface DueLevel {
  level: number;
  redelivery: boolean;
}

function levelToSend(
  reservation: DueReservation,
  now: Date,
  levels: number[],
  sent: readonly number[],
  abandoned: readonly number[],
): DueLevel | undefined {
  const remainingMs = reservation.expiresAt.getTime() - now.getTime();
  if (Number.isNaN(remainingMs) || remainingMs <= 0) return undefined;
  const mostUrgentCrossed = levels.find((level) => remainingMs <= level * MINUTE_MS);
  if (mostUrgentCrossed === undefined) return undefined;
  if (sent.some((level) => level <= mostUrgentCrossed)) return undefined;
  if (abandoned.includes(mostUrgentCrossed)) return { level: mostUrgentCrossed, redelivery: true };
  // A more urgent level abandoned (the level list changed since): it may have been broadcast, so it counts as sent.
  if (abandoned.some((level) => level < mostUrgentCrossed)) return undefined;
  return { level: mostUrgentCrossed, redelivery: false };
}

function toAction(reservation: DueReservation, podName: string, due: DueLevel, now: Date): WarnAction {
  const minutesLeft = Math.max(0, Math.floor((reservation.expiresAt.getTime() - now.getTime()) / MINUTE_MS));
  const { reservationId, expiresAt, namespace } = reservation;
  const again = due.redelivery ? ', delivered again to the pod file: its run was killed before recording it' : '';
  return {
    kind: 'warn',
    entity: { kind: 'reservation', id: reservationId },
    reservationId,
    podName,
    namespace,
    expiresAt,
    levelMinutes: due.level,
    minutesLeft,
    redelivery: due.redelivery,
    reason: `${due.level}-minute level crossed: ${minutesLeft} minute(s) left before ${expiresAt.toISOString()}${again}`,
    inputs: {
      levelMinutes: due.level,
      minutesLeft,
      expiresAt: expiresAt.toISOString(),
      podName,
      namespace,
      redelivery: due.redelivery,
    },
    item: { reservationId, level: due.level, minutesLeft, redelivery: due.redelivery },
  };
}

/** What the cluster said about the pod (shared/kube/pod-evidence's answer, as data). */
export interface PodSeen {
  kind: 'present' | 'absent' | 'unknown';
  error?: string;
  /** The pod under the row's name carries another reservation's label. */
  owner?: string;
  /** The listing shows this reservation's labelled pod under another name than the row's. */
  listedAs?: string;
}

export type PodVerdict =
  { kind: 'deliver' } | { kind: 'pod_missing' } | { kind: 'pod_mismatch' } | { kind: 'unknown'; error: string };

/**
 * Whether a warning may be written into the row's pod. A pod that is not there is left to expire;
 * one that carries another reservation's label, or that is not the pod this reservation's label
 * points at, is not ours to write into (short pod names can collide, origin A-17); an unanswered
 * question is a failed delivery, retried by the next run.
 */
export function podVerdict(seen: PodSeen | undefined): PodVerdict {
  if (seen === undefined) return { kind: 'unknown', error: 'the pod was not checked' };
  if (seen.owner !== undefined || seen.listedAs !== undefined) return { kind: 'pod_mismatch' };
  if (seen.kind === 'present') return { kind: 'deliver' };
  if (seen.kind === 'absent') return { kind: 'pod_missing' };
  return { kind: 'unknown', error: seen.error ?? 'unknown' };
}

/** An owed webhook notice of a warning already delivered to the pod (a retry of a refused post). */
export interface WebhookAction extends Action {
  kind: 'webhook';
  reservationId: string;
  expiresAt: Date;
  levelMinutes: number;
  minutesLeft: number;
}

export type WarnPlanAction = WarnAction | WebhookAction;

export interface LedgerEntry {
  reservationId: string;
  levelMinutes: number;
  state: 'sending' | 'sent' | 'failed';
  claimedAt: Date | null;
}

export interface OwedWebhook {
  reservationId: string;
  expiresAt: Date;
  levelMinutes: number;
  minutesLeft: number;
}

export interface WarnLoad {
  reservations: DueReservation[];
  /** The ledger rows of each reservation's current deadline. */
  ledger: LedgerEntry[];
  webhooks: OwedWebhook[];
  /** What the cluster said about each candidate's pod, by reservation id. */
  pods: ReadonlyMap<string, PodSeen>;
  levelsMinutes: readonly number[];
  /** How long a claim holds before it counts as abandoned. */
  claimLeaseSeconds: number;
}

export function decideWarn(loaded: WarnLoad, context: DecideContext<unknown>): Plan<WarnPlanAction> {
  const { sent, abandoned } = splitLedger(loaded.ledger, context.now, loaded.claimLeaseSeconds);
  const decision = decide({
    now: context.now,
    reservations: loaded.reservations,
    sentLevels: sent,
    abandonedLevels: abandoned,
    levelsMinutes: loaded.levelsMinutes,
  });
  const counts = { skipped_no_pod: decision.skipped.length, pod_missing: 0, pod_mismatch: 0 };
  const warnings = decision.warnings.flatMap((warning): WarnAction[] => {
    const verdict = podVerdict(loaded.pods.get(warning.reservationId));
    if (verdict.kind === 'deliver') return [warning];
    if (verdict.kind === 'unknown') return [{ ...warning, podUnknown: verdict.error }];
    counts[verdict.kind] += 1;
    return [];
  });
  return { actions: [...warnings, ...loaded.webhooks.map(webhookAction)], counts };
}

/** Sent, or claimed by a run that may still be delivering: done. Claimed longer ago than any run lasts: abandoned. */
function splitLedger(ledger: LedgerEntry[], now: Date, leaseSeconds: number) {
  const sent = new Map<string, number[]>();
  const abandoned = new Map<string, number[]>();
  for (const entry of ledger) {
    if (entry.state === 'failed') continue;
    const lost =
      entry.state === 'sending' && (entry.claimedAt === null || isAbandoned(entry.claimedAt, now, leaseSeconds));
    const into = lost ? abandoned : sent;
    into.set(entry.reservationId, [...(into.get(entry.reservationId) ?? []), entry.levelMinutes]);
  }
  return { sent, abandoned };
}

function webhookAction(owed: OwedWebhook): WebhookAction {
  return {
    kind: 'webhook',
    entity: { kind: 'reservation', id: owed.reservationId },
    ...owed,
    reason: `the webhook notice of the ${owed.levelMinutes}-minute warning is still owed (an earlier post failed)`,
    inputs: { levelMinutes: owed.levelMinutes, expiresAt: owed.expiresAt.toISOString() },
    item: { reservationId: owed.reservationId, webhookFor: owed.levelMinutes },
  };
}
