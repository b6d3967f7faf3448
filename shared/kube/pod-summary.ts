/*
 * One summary of a Pod for every reader: the Kubernetes client's V1Pod (dates as Date) and the Pod
 * JSON inside a pod-change CloudEvent (dates as strings) have the same structure, so one mapping
 * serves both. Timestamps become instants; an unreadable one is dropped, never guessed.
 */
import type { ContainerSummary, PodSummary, Termination } from './pod-health.js';

type Stamp = Date | string | null | undefined;

interface StateLike {
  running?: object | null;
  waiting?: { reason?: string | null } | null;
  terminated?: { reason?: string | null; exitCode?: number | null; finishedAt?: Stamp } | null;
}

export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string> | null;
    deletionTimestamp?: Stamp;
  } | null;
  status?: {
    phase?: string | null;
    reason?: string | null;
    message?: string | null;
    conditions?: { type: string; status: string; reason?: string | null; message?: string | null }[] | null;
    containerStatuses?:
      { name: string; restartCount?: number | null; state?: StateLike | null; lastState?: StateLike | null }[] | null;
  } | null;
}

export function summarizePod(pod: PodLike): PodSummary {
  const status = pod.status ?? {};
  return {
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace ?? '',
    uid: pod.metadata?.uid ?? '',
    phase: status.phase ?? undefined,
    reason: status.reason ?? undefined,
    message: status.message ?? undefined,
    deleting: instant(pod.metadata?.deletionTimestamp) !== undefined,
    labels: pod.metadata?.labels ?? {},
    conditions: (status.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason ?? undefined,
      message: c.message ?? undefined,
    })),
    containers: (status.containerStatuses ?? []).map(summarizeContainer),
  };
}

function summarizeContainer(
  container: NonNullable<NonNullable<PodLike['status']>['containerStatuses']>[number],
): ContainerSummary {
  return {
    name: container.name,
    running: Boolean(container.state?.running),
    restartCount: container.restartCount ?? 0,
    waitingReason: container.state?.waiting?.reason ?? undefined,
    terminated: termination(container.state),
    lastTerminated: termination(container.lastState),
  };
}

function termination(state: StateLike | null | undefined): Termination | undefined {
  const terminated = state?.terminated;
  if (!terminated) return undefined;
  return {
    reason: terminated.reason ?? undefined,
    exitCode: terminated.exitCode ?? undefined,
    finishedAt: instant(terminated.finishedAt),
  };
}

function instant(stamp: Stamp): Date | undefined {
  if (stamp === null || stamp === undefined) return undefined;
  const value = stamp instanceof Date ? stamp : new Date(stamp);
  return Number.isNaN(value.getTime()) ? undefined : value;
}
