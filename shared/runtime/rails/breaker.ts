/*
 * The blast-radius breaker's rule, pure: a function may take at most max(N, X% of the live fleet)
 * destructive actions within the window, this run included. What it catches: a bulk UPDATE of
 * expires_at, a restored old database and a clock jump all make a large share of the fleet due at
 * once; a backlog cut into runs by maxItems still adds up in the window.
 */
import type { FleetSize } from '../../db/queries/breaker.js';
import type { Action } from '../../plan.js';
import type { RailsSettings } from './settings.js';

export interface BreakerEvidence {
  /** Destructive actions this run decided. */
  destructive: number;
  /** Destructive actions the function's runs took in the window before this one. */
  recentDestructive: number;
  windowMinutes: number;
  /** The live fleet the actions are measured against, and what it counts. */
  fleet: number;
  fleetOf: 'reservations' | 'labs';
  limit: number;
  minActions: number;
  fleetPercent: number;
}

/** Labs for a function acting on labs; reservations (which own every disk, pod and snapshot) otherwise. */
export function fleetOf(actions: readonly Action[]): BreakerEvidence['fleetOf'] {
  return actions.length > 0 && actions.every((action) => action.entity.kind === 'lab') ? 'labs' : 'reservations';
}

export function breakerEvidence(
  destructive: readonly Action[],
  recentDestructive: number,
  size: FleetSize,
  settings: RailsSettings,
): BreakerEvidence {
  const of = fleetOf(destructive);
  const fleet = size[of];
  return {
    destructive: destructive.length,
    recentDestructive,
    windowMinutes: settings.breakerWindowMinutes,
    fleet,
    fleetOf: of,
    limit: Math.max(settings.breakerMinActions, Math.floor((fleet * settings.breakerFleetPercent) / 100)),
    minActions: settings.breakerMinActions,
    fleetPercent: settings.breakerFleetPercent,
  };
}

export function breakerTrips(evidence: BreakerEvidence): boolean {
  return evidence.destructive + evidence.recentDestructive > evidence.limit;
}

export function breakerReason(evidence: BreakerEvidence, fn: string): string {
  return (
    `blast-radius breaker: ${evidence.destructive} destructive action(s) in this run and ${evidence.recentDestructive} in the last ` +
    `${evidence.windowMinutes} minutes exceed the limit of ${evidence.limit} (max(${evidence.minActions}, ${evidence.fleetPercent}% of ` +
    `${evidence.fleet} live ${evidence.fleetOf})); nothing was done — check for a bulk change of expiry times, a restored database ` +
    `or a clock jump, then \`devenv-lifecycle breaker override ${fn} --for 1h --reason "..."\` if the change is intended`
  );
}
