/*
 * cleanup-pod's teardown state machine, pure. One step at a time, each idempotent, in the order
 * that keeps users' data safe: delete the pod and everything labelled with the reservation, wait
 * until the pod is really gone and the volume detached, then ask for the shutdown snapshot, then
 * release the disk (compare-and-set on the holder), then verify nothing remains (origin bug A-6
 * snapshotted a live disk and deleted volumes that were still attached).
 */
export type Step = 'delete_resources' | 'await_gone' | 'await_detach' | 'request_snapshot' | 'release_disk' | 'verify' | 'done';

/** What this run saw, for the step being advanced. `unknown` means an API error: wait and retry. */
export type Observation =
  | { step: 'delete_resources'; deleted: boolean; errors: string[] }
  | { step: 'await_gone'; pod: 'gone' | 'present' | 'unknown'; terminatingForSeconds?: number }
  | { step: 'await_detach'; volume: 'available' | 'attached' | 'missing' | 'none' | 'unknown' }
  | { step: 'request_snapshot' }
  | { step: 'release_disk' }
  | { step: 'verify'; remaining: string[] | null };

export type Transition =
  | { kind: 'advance'; to: Step; reason: string; snapshot?: boolean }
  | { kind: 'retry'; delaySeconds: number; reason: string; forceDeletePod?: boolean }
  | { kind: 'restart'; reason: string };

export interface TeardownPolicy {
  /** A pod still terminating after this long is deleted again with grace 0. */
  stuckTerminatingSeconds: number;
  retryDelaySeconds: number;
}

export function advance(observation: Observation, policy: TeardownPolicy): Transition {
  const retry = (reason: string, extra: Partial<Extract<Transition, { kind: 'retry' }>> = {}): Transition => ({ kind: 'retry', delaySeconds: policy.retryDelaySeconds, reason, ...extra });
  switch (observation.step) {
    case 'delete_resources':
      return observation.deleted
        ? { kind: 'advance', to: 'await_gone', reason: 'pod and labelled resources deleted' }
        : retry(`deleting failed: ${observation.errors.join('; ')}`);
    case 'await_gone':
      if (observation.pod === 'gone') return { kind: 'advance', to: 'await_detach', reason: 'pod is gone (404)' };
      if (observation.pod === 'unknown') return retry('could not read the pod');
      return (observation.terminatingForSeconds ?? 0) > policy.stuckTerminatingSeconds
        ? retry('pod stuck terminating: deleting again with grace 0', { forceDeletePod: true })
        : retry('pod still terminating');
    case 'await_detach':
      return awaitDetach(observation.volume, retry);
    case 'request_snapshot':
      return { kind: 'advance', to: 'release_disk', reason: 'shutdown snapshot requested (pod.cleaned)', snapshot: true };
    case 'release_disk':
      return { kind: 'advance', to: 'verify', reason: 'disk released if this reservation still held it' };
    case 'verify':
      if (observation.remaining === null) return retry('could not verify the teardown');
      return observation.remaining.length === 0
        ? { kind: 'advance', to: 'done', reason: 'nothing labelled with the reservation remains' }
        : { kind: 'restart', reason: `still present: ${observation.remaining.slice(0, 10).join(', ')}` };
  }
}

function awaitDetach(volume: Extract<Observation, { step: 'await_detach' }>['volume'], retry: (reason: string) => Transition): Transition {
  switch (volume) {
    case 'available':
      return { kind: 'advance', to: 'request_snapshot', reason: 'volume detached' };
    case 'none':
      return { kind: 'advance', to: 'release_disk', reason: 'no volume recorded: nothing to snapshot' };
    case 'missing':
      return { kind: 'advance', to: 'release_disk', reason: 'volume does not exist: nothing to snapshot' };
    case 'attached':
      return retry('volume still attached');
    case 'unknown':
      return retry('could not read the volume');
  }
}
