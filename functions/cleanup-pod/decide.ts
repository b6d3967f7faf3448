/*
 * cleanup-pod's rules, pure. Which teardowns a run takes (`decideTeardowns`), and the teardown
 * state machine (`advance`): one step at a time, each idempotent, in the order that keeps users'
 * data safe: delete what provably belongs to the reservation, wait until its pod is really gone
 * and the volume detached, then ask for the shutdown snapshot, then release the disk
 * (compare-and-set on the holder), then verify nothing remains (origin bug A-6 snapshotted a live
 * disk and deleted volumes that were still attached). The disk steps run only while this
 * reservation holds the disk: a disk that moved to the user's newer reservation is not waited on,
 * snapshotted or released here. Every wait escalates after `escalateAfterSeconds`.
 */
import type { Action, DecideContext, Plan } from '../../shared/plan.js';
import type { DiskHolding, Step, Transition } from './types.js';
import { heldElsewhere, volumeVerdict } from './volume.js';
import type { VolumeView } from './volume.js';

export type { DiskHolding, Step, Transition, VolumeView };

/** What this run saw, for the step being advanced. `unknown` means an API error: wait and retry. */
export type Observation =
  | { step: 'delete_resources'; deleted: boolean; errors: string[] }
  /**
   * `present`: the reservation's pod, terminating; `running`: the reservation's pod and not
   * terminating (its delete never took); `not-ours`: not provably this reservation's, left alone.
   */
  | { step: 'await_gone'; pod: 'gone' | 'present' | 'running' | 'not-ours' | 'unknown'; terminatingForSeconds?: number }
  | { step: 'await_detach'; volume: VolumeView }
  | { step: 'request_snapshot'; disk: DiskHolding }
  | { step: 'release_disk' }
  | { step: 'verify'; remaining: string[] | null };

export interface TeardownPolicy {
  /** A pod still terminating after this long is deleted again with grace 0. */
  stuckTerminatingSeconds: number;
  retryDelaySeconds: number;
  /** A step still waiting after this long escalates, and is retried every `escalatedRetryDelaySeconds`. */
  escalateAfterSeconds: number;
  escalatedRetryDelaySeconds: number;
}

type Retry = (reason: string, extra?: { forceDeletePod?: boolean }) => Transition;

/** `secondsInStep`: how long the teardown has been in this step (retries keep the entry time). */
export function advance(observation: Observation, policy: TeardownPolicy, secondsInStep = 0): Transition {
  const escalated = secondsInStep >= policy.escalateAfterSeconds;
  const retry: Retry = (reason, extra = {}) =>
    escalated
      ? {
          kind: 'retry',
          delaySeconds: policy.escalatedRetryDelaySeconds,
          reason: `${reason} (waiting ${Math.floor(secondsInStep / 60)} min: escalated)`,
          escalated: true,
          ...extra,
        }
      : { kind: 'retry', delaySeconds: policy.retryDelaySeconds, reason, ...extra };
  switch (observation.step) {
    case 'delete_resources':
      return observation.deleted
        ? { kind: 'advance', to: 'await_gone', reason: 'what belongs to the reservation is deleted' }
        : retry(`deleting failed: ${observation.errors.join('; ')}`);
    case 'await_gone':
      return awaitGone(observation, policy, retry);
    case 'await_detach':
      return volumeVerdict(observation.volume, retry);
    case 'request_snapshot':
      return observation.disk.holds
        ? { kind: 'advance', to: 'release_disk', reason: 'shutdown snapshot requested (pod.cleaned)', snapshot: true }
        : {
            kind: 'advance',
            to: 'release_disk',
            reason: `${heldElsewhere(observation.disk.holder)}: no snapshot for this reservation`,
          };
    case 'release_disk':
      return { kind: 'advance', to: 'verify', reason: 'disk released if this reservation still held it' };
    case 'verify':
      if (observation.remaining === null) return retry('could not verify the teardown');
      return observation.remaining.length === 0
        ? { kind: 'advance', to: 'done', reason: 'nothing belonging to the reservation remains' }
        : { kind: 'restart', reason: `still present: ${observation.remaining.slice(0, 10).join(', ')}` };
  }
}

function awaitGone(
  observation: Extract<Observation, { step: 'await_gone' }>,
  policy: TeardownPolicy,
  retry: Retry,
): Transition {
  switch (observation.pod) {
    case 'gone':
      return { kind: 'advance', to: 'await_detach', reason: 'pod is gone (404)' };
    case 'not-ours':
      // Its own teardown, not ours, handles it; the volume check that follows still guards the disk.
      return {
        kind: 'advance',
        to: 'await_detach',
        reason: 'the pod under this name does not belong to the reservation: left alone',
      };
    case 'unknown':
      return retry('could not read the pod');
    case 'running':
      // Grace 0 is only for a pod stuck terminating; one that is not terminating gets a graceful delete.
      return { kind: 'restart', reason: "the reservation's pod is not terminating: deleting it again" };
    case 'present':
      return (observation.terminatingForSeconds ?? 0) > policy.stuckTerminatingSeconds
        ? retry('pod stuck terminating: deleting again with grace 0', { forceDeletePod: true })
        : retry('pod still terminating');
  }
}

/** The step a teardown is at after `transition`. */
export function nextStep(step: Step, transition: Transition): Step {
  if (transition.kind === 'retry') return step;
  return transition.kind === 'restart' ? 'delete_resources' : transition.to;
}

/** A teardown due now, as load found it (`fresh`: the reservation ended and has no teardown yet). */
export interface TeardownCandidate {
  reservationId: string;
  step: Step;
  attempts: number;
  dueAt: Date;
  fresh: boolean;
}

export interface TeardownLoad {
  candidates: TeardownCandidate[];
  /** Ended reservations whose teardown this run starts (the event's, or those the sweep found). */
  toStart: string[];
}

/** Upkeep: start the teardown of an ended reservation that has none (a no-op for any other id). */
export interface StartTeardown {
  reservationId: string;
}

/**
 * One teardown, carried through as many steps as the evidence allows. `tear-down` is its first
 * delete: destructive, so the safety rails weigh it — once per teardown. `resume` continues a
 * teardown that already deleted (a wait, a retry, the disk steps): the rails weighed it when it
 * deleted, and counting every retry of a wait would trip the breaker on a few stuck volumes.
 */
export interface TeardownAction extends Action {
  kind: 'tear-down' | 'resume';
  reservationId: string;
  step: Step;
}

/** Due teardowns oldest first, then the fresh ones; the starts go with the first batch. */
export function decideTeardowns(
  loaded: TeardownLoad,
  _context: DecideContext<unknown>,
): Plan<TeardownAction, StartTeardown> {
  const ordered = [...loaded.candidates].sort(
    (a, b) => Number(a.fresh) - Number(b.fresh) || a.dueAt.getTime() - b.dueAt.getTime(),
  );
  return { actions: ordered.map(teardownAction), upkeep: loaded.toStart.map((reservationId) => ({ reservationId })) };
}

function teardownAction(candidate: TeardownCandidate): TeardownAction {
  const first = candidate.step === 'delete_resources' && candidate.attempts === 0;
  return {
    kind: first ? 'tear-down' : 'resume',
    reservationId: candidate.reservationId,
    step: candidate.step,
    entity: { kind: 'reservation', id: candidate.reservationId },
    reason: first
      ? 'the reservation ended: delete what belongs to it, then release its disk'
      : `teardown continues at ${candidate.step}`,
    inputs: { step: candidate.step, attempts: candidate.attempts },
    item: { reservationId: candidate.reservationId, step: candidate.step },
    ...(first ? { destructive: true } : {}),
  };
}
