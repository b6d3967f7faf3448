/*
 * Whose pod a warning goes into. The reservation's row names its pod, but a warning must only be
 * written into a pod that belongs to that reservation (short pod names can collide, origin A-17).
 * Pods are listed by the reservation label, 50 reservations per call; a pod the listing does not
 * show (unlabelled, gone, its chunk's listing failed, or an id that cannot be a label value) is
 * read by name. A pod that is not there is left to expire; one that carries another reservation's
 * label is not ours to write into; an unanswered question is a failed delivery, retried by the
 * next run.
 */
import { coerceError } from '../../shared/errors.js';
import type { PodSummary } from '../../shared/kube/pod-health.js';
import type { PodReader } from '../../shared/kube/pods.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { WarnAction } from './decide.js';

export type PodVerdict = { kind: 'deliver' } | { kind: 'pod_missing' } | { kind: 'pod_mismatch' } | { kind: 'unknown'; error: string };

export async function podVerdicts(reader: PodReader, label: string, warnings: WarnAction[], concurrency: number): Promise<Map<string, PodVerdict>> {
  const verdicts = new Map<string, PodVerdict>();
  for (const [namespace, group] of byNamespace(warnings)) {
    // A failed listing (or chunk of it) proves nothing: its pods are read by name like unlabelled ones.
    const listed = await reader.podsForReservations(namespace, group.map((w) => w.reservationId))
      .then((found) => found.pods, () => new Map<string, PodSummary>());
    const unlisted = group.filter((w) => !listed.has(w.reservationId));
    for (const warning of group) {
      const pod = listed.get(warning.reservationId);
      if (pod) verdicts.set(warning.reservationId, pod.name === warning.podName ? { kind: 'deliver' } : { kind: 'pod_mismatch' });
    }
    const reads = await mapWithConcurrency(unlisted, concurrency, (w) => reader.readPod(namespace, w.podName));
    reads.forEach((read, index) => {
      const warning = unlisted[index]!;
      verdicts.set(warning.reservationId, verdictOfRead(read, label, warning.reservationId));
    });
  }
  return verdicts;
}

function verdictOfRead(read: PromiseSettledResult<PodSummary | 'absent'>, label: string, reservationId: string): PodVerdict {
  if (read.status === 'rejected') return { kind: 'unknown', error: `reading the pod failed: ${coerceError(read.reason).message}` };
  if (read.value === 'absent') return { kind: 'pod_missing' };
  const owner = read.value.labels?.[label];
  return owner === undefined || owner === reservationId ? { kind: 'deliver' } : { kind: 'pod_mismatch' };
}

function byNamespace(warnings: WarnAction[]): Map<string, WarnAction[]> {
  const groups = new Map<string, WarnAction[]>();
  for (const warning of warnings) groups.set(warning.namespace, [...(groups.get(warning.namespace) ?? []), warning]);
  return groups;
}
