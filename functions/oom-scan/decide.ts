/*
 * oom-scan's decisions, pure: which OOM kills do these pods show? A kill is identified by (pod uid,
 * container, kill ordinal), where the ordinal is the number of terminations the container has had
 * counting this one. A kill seen while the container is still down (state.terminated, restartCount
 * N) and seen again after the restart (lastState.terminated, restartCount N+1) is one kill, so it is
 * recorded once (origin bug A-15 compared timestamp strings and counted some kills every run).
 */
import type { ContainerSummary, PodSummary } from '../../shared/pod-health.js';

export interface OomKill {
  reservationId: string;
  podUid: string;
  podName: string;
  namespace: string;
  container: string;
  ordinal: number;
  finishedAt: Date | undefined;
}

/** `reservationOf` maps a pod to its active reservation, or undefined when it has none. */
export function findOomKills(pods: PodSummary[], reservationOf: (pod: PodSummary) => string | undefined): OomKill[] {
  const kills: OomKill[] = [];
  for (const pod of pods) {
    const reservationId = reservationOf(pod);
    if (reservationId === undefined || pod.uid === '') continue;
    for (const container of pod.containers) {
      const kill = killIn(container);
      if (kill) kills.push({ reservationId, podUid: pod.uid, podName: pod.name, namespace: pod.namespace, container: container.name, ...kill });
    }
  }
  return kills;
}

function killIn(container: ContainerSummary): { ordinal: number; finishedAt: Date | undefined } | undefined {
  const restarts = container.restartCount ?? 0;
  if (container.terminated?.reason === 'OOMKilled') return { ordinal: restarts + 1, finishedAt: container.terminated.finishedAt };
  if (container.lastTerminated?.reason === 'OOMKilled') return { ordinal: restarts, finishedAt: container.lastTerminated.finishedAt };
  return undefined;
}

export function oomNoticeContent(kill: { container: string; finishedAt: Date | undefined; oomCount: number }, now: Date): string {
  const when = (kill.finishedAt ?? now).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
  return [
    '='.repeat(72),
    '  OUT OF MEMORY: a process in this dev server was killed',
    '='.repeat(72),
    '',
    `Container:        ${kill.container}`,
    `Killed at:        ${when}`,
    `OOM kills so far: ${kill.oomCount}`,
    '',
    'The container ran out of memory and was restarted; unsaved work in killed processes is lost.',
    'To avoid it: reduce batch sizes or parallel workers, stream data instead of loading it whole,',
    'watch memory with `free -h` / `nvidia-smi`, or reserve a machine with more memory.',
    '',
    `Generated at ${now.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC')}`,
    '='.repeat(72),
    '',
  ].join('\n');
}
