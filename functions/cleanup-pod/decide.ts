/*
 * cleanup-pod's teardown state machine, pure. One step at a time, each idempotent, in the order
 * that keeps users' data safe: delete what provably belongs to the reservation, wait until its pod
 * is really gone and the volume detached, then ask for the shutdown snapshot, then release the
 * disk (compare-and-set on the holder), then verify nothing remains (origin bug A-6 snapshotted a
 * live disk and deleted volumes that were still attached). The disk steps run only while this
 * reservation holds the disk: a disk that moved to the user's newer reservation is not waited on,
 * snapshotted or released here. Every wait escalates after `escalateAfterSeconds`.
 */
import { heldElsewhere, volumeVerdict } from './volume.js';
import type { VolumeView } from './volume.js';

export type { VolumeView };

export type Step = 'delete_resources' | 'await_gone' | 'await_detach' | 'request_snapshot' | 'release_disk' | 'verify' | 'done';

/**
 * Whether this reservation holds the disk of its volume (`disks.reservation_id`), read at claim
 * time; a reservation whose disk has no row holds its own volume (nothing records another holder).
 */
export type DiskHolding = { holds: true } | { holds: false; holder: string | null };

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

export type Transition =
  | { kind: 'advance'; to: Step; reason: string; snapshot?: boolean }
  /** `escalated`: the step has waited past the policy's bound (metric, decision-log entry, alert). */
  | { kind: 'retry'; delaySeconds: number; reason: string; forceDeletePod?: boolean; escalated?: boolean }
  | { kind: 'restart'; reason: string };

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
  const retry: Retry = (reason, extra = {}) => (escalated
    ? { kind: 'retry', delaySeconds: policy.escalatedRetryDelaySeconds, reason: `${reason} (waiting ${Math.floor(secondsInStep / 60)} min: escalated)`, escalated: true, ...extra }
    : { kind: 'retry', delaySeconds: policy.retryDelaySeconds, reason, ...extra });
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
        : { kind: 'advance', to: 'release_disk', reason: `${heldElsewhere(observation.disk.holder)}: no snapshot for this reservation` };
    case 'release_disk':
      return { kind: 'advance', to: 'verify', reason: 'disk released if this reservation still held it' };
    case 'verify':
      if (observation.remaining === null) return retry('could not verify the teardown');
      return observation.remaining.length === 0
        ? { kind: 'advance', to: 'done', reason: 'nothing belonging to the reservation remains' }
        : { kind: 'restart', reason: `still present: ${observation.remaining.slice(0, 10).join(', ')}` };
  }
}

function awaitGone(observation: Extract<Observation, { step: 'await_gone' }>, policy: TeardownPolicy, retry: Retry): Transition {
  switch (observation.pod) {
    case 'gone':
      return { kind: 'advance', to: 'await_detach', reason: 'pod is gone (404)' };
    case 'not-ours':
      // Its own teardown, not ours, handles it; the volume check that follows still guards the disk.
      return { kind: 'advance', to: 'await_detach', reason: 'the pod under this name does not belong to the reservation: left alone' };
    case 'unknown':
      return retry('could not read the pod');
    case 'running':
      // Grace 0 is only for a pod stuck terminating; one that is not terminating gets a graceful delete.
      return { kind: 'restart', reason: 'the reservation\'s pod is not terminating: deleting it again' };
    case 'present':
      return (observation.terminatingForSeconds ?? 0) > policy.stuckTerminatingSeconds
        ? retry('pod stuck terminating: deleting again with grace 0', { forceDeletePod: true })
        : retry('pod still terminating');
  }
}
