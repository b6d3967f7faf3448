/*
 * The safety rails between `decide` and execution, for every function on the kernel. In order:
 * shadow mode (record every decision as `shadow`, act on nothing); clock sanity (refuse the
 * destructive actions while the clocks disagree); the blast-radius breaker (past the limit and
 * without a live override, act on nothing). Whatever a rail withholds is counted and logged with
 * its evidence, and a halting rail ends the run `halted`. A dry run passes through untouched.
 */
import { breakerReads } from '../../db/queries/breaker.js';
import { appendDecisions } from '../../db/queries/decisions.js';
import type { Action } from '../../plan.js';
import type { DecisionEntry, Run } from '../run.js';
import type { RunServices } from '../run-scope.js';
import { breakerEvidence, breakerReason, breakerTrips } from './breaker.js';
import { clockEvidence, clockRailOn, clockRefuses, readClock } from './clock.js';
import type { ClockReading } from './clock.js';
import type { RailsSettings } from './settings.js';

export interface Guarded<A extends Action> {
  /** What may run now. */
  actions: A[];
  /** Why the run ends `halted`, when a rail withheld destructive actions. */
  halted?: string;
  /** Shadow mode or a tripped breaker: the run acts on nothing, its upkeep included. */
  actsOnNothing?: true;
  message?: string;
}

/**
 * Measured at the start of the run, before anything is loaded, whatever the clock. Only a limit of 0
 * turns the rail off: a harness whose clock keeps a time of its own on purpose says so explicitly.
 */
export async function startRails(run: Run, services: RunServices): Promise<ClockReading | undefined> {
  if (!services.rails || run.scope.dryRun || !clockRailOn(services.rails)) return undefined;
  const reading = run.scope.clockReading ?? (await readClock(services.pool, () => run.now()));
  run.metrics.clockSkewSeconds.set({ function: run.fn }, reading.skewSeconds);
  return reading;
}

export async function guard<A extends Action>(
  run: Run,
  services: RunServices,
  actions: A[],
  clock: ClockReading | undefined,
): Promise<Guarded<A>> {
  const settings = services.rails;
  if (!settings || run.scope.dryRun) return { actions };
  if (settings.shadowFunctions.includes(run.fn)) return shadow(run, services, actions);
  const destructive = actions.filter((action) => action.destructive === true);
  if (destructive.length === 0) return { actions };
  if (clock && clockRefuses(clock, settings.clockSkewMaxSeconds)) return refuseForClock(run, actions, clock, settings);
  return breaker(run, services, settings, actions, destructive);
}

async function shadow<A extends Action>(run: Run, services: RunServices, actions: A[]): Promise<Guarded<A>> {
  run.count('shadow', actions.length);
  // Written here rather than through run.append for the count: a decision unchanged since its
  // entity's last shadow record is not recorded again (appendDecisions).
  const decisions = actions.map((action) => ({
    ...entry(action, 'shadow mode: decided, not acted on', 'shadow'),
    outcome: 'shadow' as const,
    runId: run.scope.runId,
    fn: run.fn,
  }));
  const recorded = await appendDecisions(services.pool, decisions, run.now());
  run.count('shadow_recorded', recorded);
  return {
    actions: [],
    actsOnNothing: true,
    message: `shadow mode: ${actions.length} decision(s), ${recorded} new recorded, nothing acted on`,
  };
}

async function refuseForClock<A extends Action>(
  run: Run,
  actions: A[],
  clock: ClockReading,
  settings: RailsSettings,
): Promise<Guarded<A>> {
  const evidence = clockEvidence(clock, settings.clockSkewMaxSeconds);
  const reason = `clock sanity: this function's clock is ${evidence.skewSeconds} s from the database's (limit ${settings.clockSkewMaxSeconds} s); destructive actions refused until the clocks agree`;
  const refused = actions.filter((action) => action.destructive === true);
  run.count('refused_clock', refused.length);
  run.metrics.railHalts.inc({ function: run.fn, rail: 'clock' });
  run.log.error({ clock: evidence, refused: refused.length }, 'clock skew past the limit: destructive actions refused');
  await run.append([
    functionEntry(run, 'clock-skew', reason, evidence, 'halted'),
    ...refused.map((action) => entry(action, reason, 'halted', { clock: evidence })),
  ]);
  return { actions: actions.filter((action) => action.destructive !== true), halted: reason };
}

async function breaker<A extends Action>(
  run: Run,
  services: RunServices,
  settings: RailsSettings,
  actions: A[],
  destructive: A[],
): Promise<Guarded<A>> {
  const since = new Date(run.now().getTime() - settings.breakerWindowMinutes * 60_000);
  // A function of several stages: what its earlier stages took in this run counts toward the limit too.
  const earlier = run.summary.destructive ?? 0;
  // One round trip: the window, the fleet (only past the minimum) and any live override.
  const reads = await breakerReads(services.pool, {
    fn: run.fn,
    since,
    now: run.now(),
    destructive: destructive.length,
    earlier,
    minActions: settings.breakerMinActions,
    fleetPercent: settings.breakerFleetPercent,
  });
  const evidence = breakerEvidence(destructive, reads.recent, reads.fleet, settings);
  // The run's own count grows as its actions settle (action-outcomes.ts): only what it took up.
  if (!breakerTrips(evidence)) return { actions };
  const { override } = reads;
  if (override) {
    run.count('breaker_overridden');
    const reason = `blast-radius breaker passed by operator override #${override.id} until ${override.expires_at.toISOString()}: ${override.reason}`;
    run.log.warn(
      { breaker: evidence, override: override.id },
      'breaker limit exceeded; acting under an operator override',
    );
    await run.append([
      functionEntry(run, 'breaker-override', reason, { ...evidence, overrideId: override.id }, 'applied'),
    ]);
    return { actions, message: reason };
  }
  const reason = breakerReason(evidence, run.fn);
  // Nothing is done: the window counts none of what the breaker withheld (the key says it weighed them).
  run.summary.destructive = earlier;
  run.count('withheld', actions.length);
  run.metrics.railHalts.inc({ function: run.fn, rail: 'breaker' });
  run.log.error({ breaker: evidence }, 'blast-radius breaker tripped: the run acts on nothing');
  await run.append([
    functionEntry(run, 'breaker-trip', reason, evidence, 'halted'),
    ...actions.map((action) => entry(action, reason, 'halted', { breaker: evidence })),
  ]);
  return { actions: [], actsOnNothing: true, halted: reason };
}

function entry(
  action: Action,
  reason: string,
  outcome: 'halted' | 'shadow',
  evidence: Record<string, unknown> = {},
): DecisionEntry {
  return {
    entityKind: action.entity.kind,
    entityId: action.entity.id,
    action: action.kind,
    reason: outcome === 'shadow' ? action.reason : reason,
    inputs: { ...action.inputs, ...evidence, ...(action.destructive ? { destructive: true } : {}) },
    outcome,
  };
}

function functionEntry(
  run: Run,
  action: string,
  reason: string,
  evidence: object,
  outcome: 'halted' | 'applied',
): DecisionEntry {
  return { entityKind: 'function', entityId: run.fn, action, reason, inputs: { ...evidence }, outcome };
}
