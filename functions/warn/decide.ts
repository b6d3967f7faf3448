/*
 * warn's decisions, pure: which reservations get which warning now. Per reservation, the most
 * urgent level already crossed and not yet sent for the *current* deadline (the origin picked the
 * least urgent one, A-3); never a level less urgent than one already sent; never after the deadline.
 */
export interface DueReservation {
  reservationId: string;
  expiresAt: Date;
  podName: string | null;
  namespace: string;
}

export interface WarnInput {
  now: Date;
  reservations: DueReservation[];
  /** Levels already delivered, per reservation, for the reservation's current deadline. */
  sentLevels: ReadonlyMap<string, readonly number[]>;
  /** Most urgent last is not assumed: any order, duplicates allowed. */
  levelsMinutes: readonly number[];
  maxItems: number;
}

export interface WarnAction {
  kind: 'warn';
  reservationId: string;
  podName: string;
  namespace: string;
  expiresAt: Date;
  levelMinutes: number;
  /** Whole minutes left, never negative: the N of WARN_EXPIRES_IN_<N>MIN.txt. */
  minutesLeft: number;
  reason: string;
}

export interface WarnSkip {
  reservationId: string;
  reason: 'no-pod-name';
}

export interface WarnDecision {
  warnings: WarnAction[];
  skipped: WarnSkip[];
  deferred: number;
}

const MINUTE_MS = 60_000;

export function decide(input: WarnInput): WarnDecision {
  const levels = [...new Set(input.levelsMinutes)].sort((a, b) => a - b); // most urgent first
  const warnings: WarnAction[] = [];
  const skipped: WarnSkip[] = [];
  for (const reservation of input.reservations) {
    const level = levelToSend(reservation, input.now, levels, input.sentLevels.get(reservation.reservationId) ?? []);
    if (level === undefined) continue;
    if (reservation.podName === null) {
      skipped.push({ reservationId: reservation.reservationId, reason: 'no-pod-name' });
      continue;
    }
    warnings.push(toAction(reservation, reservation.podName, level, input.now));
  }
  // The closest deadlines first, so a budget cut leaves the least urgent for the next run.
  warnings.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime());
  const limit = Math.max(0, input.maxItems);
  return { warnings: warnings.slice(0, limit), skipped, deferred: Math.max(0, warnings.length - limit) };
}

function levelToSend(reservation: DueReservation, now: Date, levels: number[], sent: readonly number[]): number | undefined {
  const remainingMs = reservation.expiresAt.getTime() - now.getTime();
  if (Number.isNaN(remainingMs) || remainingMs <= 0) return undefined;
  const mostUrgentCrossed = levels.find((level) => remainingMs <= level * MINUTE_MS);
  if (mostUrgentCrossed === undefined) return undefined;
  if (sent.some((level) => level <= mostUrgentCrossed)) return undefined;
  return mostUrgentCrossed;
}

function toAction(reservation: DueReservation, podName: string, level: number, now: Date): WarnAction {
  const minutesLeft = Math.max(0, Math.floor((reservation.expiresAt.getTime() - now.getTime()) / MINUTE_MS));
  return {
    kind: 'warn',
    reservationId: reservation.reservationId,
    podName,
    namespace: reservation.namespace,
    expiresAt: reservation.expiresAt,
    levelMinutes: level,
    minutesLeft,
    reason: `${level}-minute level crossed: ${minutesLeft} minute(s) left before ${reservation.expiresAt.toISOString()}`,
  };
}
