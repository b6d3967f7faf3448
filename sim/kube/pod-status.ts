/*
 * Pod status as the kubelet reports it, for the states the functions tell apart: running, pending,
 * completed, failed, OOM-killed and restarted, evicted. Pure functions of the pod and the time.
 */
import { randomBytes } from 'node:crypto';
import type { KubeObject } from './store.js';
import { timestamp } from './status.js';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

interface Terminated {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt?: string;
  finishedAt: string;
  containerID: string;
}

interface ContainerState {
  running?: { startedAt: string };
  waiting?: { reason: string; message?: string };
  terminated?: Terminated;
}

interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState;
}

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export interface PodStatus {
  phase: PodPhase;
  reason?: string;
  message?: string;
  conditions: Condition[];
  containerStatuses: ContainerStatus[];
  hostIP?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  qosClass: string;
}

interface ContainerSpec {
  name: string;
  image?: string;
}

export type Pod = KubeObject & {
  spec: { containers: ContainerSpec[]; nodeName?: string; [field: string]: unknown };
  status: PodStatus;
};

function containerState(phase: PodPhase, at: string, containerID: string): ContainerState {
  switch (phase) {
    case 'Running':
      return { running: { startedAt: at } };
    case 'Succeeded':
      return { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at, containerID } };
    case 'Failed':
      return { terminated: { exitCode: 1, reason: 'Error', startedAt: at, finishedAt: at, containerID } };
    default:
      return { waiting: { reason: 'ContainerCreating' } };
  }
}

function conditions(phase: PodPhase, at: string): Condition[] {
  const ready = phase === 'Running' ? 'True' : phase === 'Unknown' ? 'Unknown' : 'False';
  const scheduled = phase === 'Pending' ? 'False' : 'True';
  const completed = phase === 'Succeeded' || phase === 'Failed' ? { reason: 'PodCompleted' } : {};
  return [
    { type: 'PodScheduled', status: scheduled, lastTransitionTime: at },
    { type: 'Initialized', status: scheduled, lastTransitionTime: at },
    { type: 'ContainersReady', status: ready, lastTransitionTime: at, ...completed },
    { type: 'Ready', status: ready, lastTransitionTime: at, ...completed },
  ];
}

/** The parts of a pod its status is computed from; a pod being created has no status yet. */
type PodShape = Pick<Pod, 'spec'> & { status?: Partial<PodStatus> };

export function podStatus(pod: PodShape, phase: PodPhase, now: Date, podIP: string): PodStatus {
  const at = timestamp(now);
  const previous = new Map((pod.status?.containerStatuses ?? []).map((c) => [c.name, c]));
  const containerStatuses = pod.spec.containers.map((spec): ContainerStatus => {
    const before = previous.get(spec.name);
    const containerID = before?.containerID ?? `containerd://${randomBytes(32).toString('hex')}`;
    return {
      name: spec.name,
      image: spec.image ?? `${spec.name}:sim`,
      imageID: `docker.io/library/${spec.image ?? spec.name}@sha256:${'0'.repeat(64)}`,
      containerID,
      ready: phase === 'Running',
      started: phase === 'Running',
      restartCount: before?.restartCount ?? 0,
      state: containerState(phase, at, containerID),
      lastState: before?.lastState ?? {},
    };
  });
  const placed = phase !== 'Pending';
  return {
    phase,
    conditions: conditions(phase, at),
    containerStatuses,
    ...(placed && { hostIP: '10.0.0.10', podIP, podIPs: [{ ip: podIP }], startTime: pod.status?.startTime ?? at }),
    qosClass: 'BestEffort',
  };
}

/** The container was OOM-killed and the kubelet restarted it: running again, one more restart. */
export function afterOomKill(pod: Pod, container: string, now: Date): PodStatus {
  const at = timestamp(now);
  const containerStatuses = pod.status.containerStatuses.map((c) => {
    if (c.name !== container) return c;
    const startedAt = c.state.running?.startedAt;
    const terminated: Terminated = {
      exitCode: 137,
      reason: 'OOMKilled',
      ...(startedAt && { startedAt }),
      finishedAt: at,
      containerID: c.containerID,
    };
    return {
      ...c,
      restartCount: c.restartCount + 1,
      lastState: { terminated },
      state: { running: { startedAt: at } },
      ready: true,
      started: true,
    };
  });
  return { ...pod.status, containerStatuses };
}

/** The kubelet ended the pod: every container terminated, the pod Failed with this reason. */
export function afterTermination(pod: Pod, now: Date, reason: string, message: string, disruption: boolean): PodStatus {
  const at = timestamp(now);
  const containerStatuses = pod.status.containerStatuses.map((c) => ({
    ...c,
    ready: false,
    started: false,
    state: { terminated: { exitCode: 137, reason: 'Error', finishedAt: at, containerID: c.containerID } },
  }));
  const base = conditions('Failed', at).map((c) =>
    c.type === 'PodScheduled' || c.type === 'Initialized' ? { ...c, status: 'True' as const } : c,
  );
  const target: Condition = {
    type: 'DisruptionTarget',
    status: 'True',
    lastTransitionTime: at,
    reason: 'TerminationByKubelet',
    message,
  };
  return {
    ...pod.status,
    phase: 'Failed',
    reason,
    message,
    containerStatuses,
    conditions: disruption ? [target, ...base] : base,
  };
}
