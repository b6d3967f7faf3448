/*
 * ending-watchdog's decisions, pure. Which labs to take (stuck in ENDING longer than the limit
 * since they *entered* ENDING, oldest first, at most maxLabs; or exactly one by id), and what the
 * teardown's evidence allows: `finished` only when the teardown succeeded and nothing labelled with
 * the lab remains (origin bug B-4 declared success on a guess). Anything less is `unknown`, never a
 * terminal state: an API error or a teardown still in progress says nothing final about the lab,
 * so it stays ENDING, is retried by later runs, and raises an alert after a number of attempts.
 */
import { maskOwner } from '../../shared/log.js';
import type { Action, DecideContext, Plan } from '../../shared/plan.js';
import type { WatchdogOptions } from './options.js';

export interface EndingLab {
  id: string;
  ownerId: string;
  endingSince: Date | null;
  namespace: string;
}

export type WatchdogAction = 'force' | 'fail';

export interface SelectionPolicy {
  olderThanMinutes: number;
  maxLabs: number;
  labId?: string;
}

const MINUTE_MS = 60_000;

/** The settings that choose labs: the caller's options over the configured policy. */
export interface WatchdogPolicy {
  watchdogAction: WatchdogAction;
  watchdogOlderThanMinutes: number;
  watchdogMaxLabs: number;
}

export interface WatchdogLoad {
  labs: EndingLab[];
  policy: WatchdogPolicy;
}

export interface LabAction extends Action {
  kind: WatchdogAction;
  lab: EndingLab;
}

export function selection(options: WatchdogOptions, policy: WatchdogPolicy, maxItems: number): SelectionPolicy {
  return {
    olderThanMinutes: options.olderThanMinutes ?? policy.watchdogOlderThanMinutes,
    maxLabs: Math.min(options.maxLabs ?? policy.watchdogMaxLabs, maxItems),
    labId: options.labId,
  };
}

/** One action per lab to take, oldest first; its dry-run line shows the owner masked and the age. */
export function decideWatchdog(loaded: WatchdogLoad, context: DecideContext<WatchdogOptions>): Plan<LabAction> {
  const action = context.options.action ?? loaded.policy.watchdogAction;
  const labs = selectLabs(loaded.labs, context.now, selection(context.options, loaded.policy, context.maxItems));
  const actions = labs.map((lab): LabAction => {
    const age = ageMinutes(lab, context.now);
    return {
      kind: action,
      lab,
      entity: { kind: 'lab', id: lab.id },
      reason: context.options.labId !== undefined ? 'chosen by id' : `in ENDING for ${age} minutes`,
      inputs: { endingSince: lab.endingSince?.toISOString() ?? null, namespace: lab.namespace },
      item: { labId: lab.id, owner: maskOwner(lab.ownerId), ageMinutes: age, action },
      // Both end a lab (force tears it down, fail marks it failed): the breaker counts them.
      destructive: true,
    };
  });
  return { actions, counts: { selected: labs.length } };
}

/** Labs to act on, oldest first. In lab-id mode age and limit do not apply (the operator chose). */
export function selectLabs(labs: EndingLab[], now: Date, policy: SelectionPolicy): EndingLab[] {
  if (policy.labId !== undefined) return labs.filter((lab) => lab.id === policy.labId);
  const cutoff = now.getTime() - policy.olderThanMinutes * MINUTE_MS;
  return labs
    .filter((lab) => lab.endingSince !== null && lab.endingSince.getTime() < cutoff)
    .sort((a, b) => a.endingSince!.getTime() - b.endingSince!.getTime())
    .slice(0, policy.maxLabs);
}

export interface TeardownEvidence {
  /** Every delete call succeeded or found the resource already gone. */
  deletesSucceeded: boolean;
  /** What the verifying listing still found labelled with the lab ("kind/name"), or null if it failed. */
  remaining: string[] | null;
  errors: string[];
}

export type Verdict =
  { status: 'finished' } | { status: 'failed'; reason: string } | { status: 'unknown'; reason: string };

export function verdict(action: WatchdogAction, evidence?: TeardownEvidence): Verdict {
  // The operator's explicit choice, not a reading of evidence.
  if (action === 'fail') return { status: 'failed', reason: 'marked failed by the ENDING watchdog (action=fail)' };
  if (!evidence) return { status: 'unknown', reason: 'teardown did not run' };
  if (evidence.remaining === null)
    return {
      status: 'unknown',
      reason: `could not verify the teardown: ${evidence.errors.join('; ') || 'listing failed'}`,
    };
  if (evidence.remaining.length > 0)
    return {
      status: 'unknown',
      reason: `resources remain after teardown: ${evidence.remaining.slice(0, 10).join(', ')}`,
    };
  if (!evidence.deletesSucceeded)
    return { status: 'unknown', reason: `teardown errors: ${evidence.errors.join('; ')}` };
  return { status: 'finished' };
}

/** Whether a lab's unknown attempts, this one included, have reached the alert threshold. */
export function unknownAttemptsAlert(attempts: number, threshold: number): boolean {
  return attempts >= threshold;
}

/** Age in minutes to one decimal, as the origin's dry-run lines showed it. */
export function ageMinutes(lab: EndingLab, now: Date): string {
  if (lab.endingSince === null) return 'unknown';
  return ((now.getTime() - lab.endingSince.getTime()) / MINUTE_MS).toFixed(1);
}
