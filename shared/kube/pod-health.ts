/*
 * Is a reservation's pod dead? Pure, over a small summary of the pod, so expire (pod events and the
 * schedule) and oom-scan judge a pod the same way. The rule is the origin Lambda's dead-pod rule:
 * phase Failed or Succeeded, or a DisruptionTarget condition while the main container is not
 * running. A container that restarted after an OOM kill and runs again is alive.
 */
export interface PodSummary {
  name: string;
  namespace: string;
  uid: string;
  phase: string | undefined;
  reason?: string;
  message?: string;
  deleting: boolean;
  conditions: { type: string; status: string; reason?: string; message?: string }[];
  labels?: Record<string, string>;
  containers: ContainerSummary[];
}

export interface ContainerSummary {
  name: string;
  running: boolean;
  restartCount?: number;
  waitingReason?: string;
  /** The current state's termination, if the container is terminated now. */
  terminated?: Termination;
  /** The previous run's termination (what an OOM kill followed by a restart leaves behind). */
  lastTerminated?: Termination;
}

export interface Termination {
  reason?: string;
  exitCode?: number;
  finishedAt?: Date;
}

export type PodHealth = { dead: false } | { dead: true; reason: string };

export function podHealth(pod: PodSummary, mainContainer: string): PodHealth {
  if (pod.phase === 'Failed' || pod.phase === 'Succeeded') {
    return {
      dead: true,
      reason: describe(`Pod ${pod.phase === 'Failed' ? 'failed' : 'completed'}`, pod.reason, pod.message),
    };
  }
  const disruption = pod.conditions.find(
    (condition) => condition.type === 'DisruptionTarget' && condition.status === 'True',
  );
  if (disruption && !mainContainerRunning(pod, mainContainer)) {
    return { dead: true, reason: describe('Pod disrupted', disruption.reason, disruption.message) };
  }
  return { dead: false };
}

function mainContainerRunning(pod: PodSummary, mainContainer: string): boolean {
  return pod.containers.some((container) => container.name === mainContainer && container.running);
}

function describe(headline: string, reason: string | undefined, message: string | undefined): string {
  return [headline, reason, message].filter((part) => part !== undefined && part !== '').join(': ');
}
