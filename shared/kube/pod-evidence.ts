/*
 * What the cluster says about reservation pods, under one set of evidence rules for every function
 * that reads pods:
 * - listed: a pod found by the reservation label under the row's pod name is present;
 * - unlisted (unlabelled, gone, a listing chunk that failed, an id that cannot be a label value, or
 *   a labelled pod under another name): read by name;
 * - only a definite 404 for that name in a namespace that exists is absent (PodReader.readPod);
 * - anything else is unknown, including a pod under the name that carries another reservation's
 *   label (it says nothing about this one; origin A-17). Origin A-1 read every error as "gone".
 * One failed listing chunk or read costs only its own reservations.
 */
import { coerceError } from '../errors.js';
import type { PodSummary } from './pod-health.js';
import type { PodReader } from './pods.js';
import { mapWithConcurrency } from '../resilience.js';

export interface PodTarget {
  reservationId: string;
  namespace: string;
  podName: string;
}

export type PodEvidence = (
  | { kind: 'present'; pod: PodSummary }
  | { kind: 'absent' }
  /** `owner` is set when the pod under the name belongs to another reservation. */
  | { kind: 'unknown'; error: string; owner?: string }
) & {
  /** Set when the listing showed this reservation's labelled pod under another name than the row's. */
  listedAs?: string;
};

export interface EvidenceOptions {
  /** The reservation label key. */
  label: string;
  /** Reads by name in flight at once. */
  concurrency: number;
  /** Say `listedAs` when the listing shows the reservation's labelled pod under another name (warn refuses to write then). */
  withListedAs?: boolean;
}

export async function podEvidence(
  reader: PodReader,
  targets: readonly PodTarget[],
  options: EvidenceOptions,
): Promise<Map<string, PodEvidence>> {
  const evidence = new Map<string, PodEvidence>();
  for (const [namespace, group] of groupByNamespace(targets)) {
    const listed = await listedPods(reader, namespace, group);
    const unlisted: PodTarget[] = [];
    for (const target of group) {
      const pod = listed.get(target.reservationId);
      if (pod && pod.name === target.podName) evidence.set(target.reservationId, { kind: 'present', pod });
      else unlisted.push(target);
    }
    const reads = await mapWithConcurrency(unlisted, options.concurrency, (target) =>
      reader.readPod(namespace, target.podName),
    );
    reads.forEach((read, index) => {
      const target = unlisted[index]!;
      const elsewhere = options.withListedAs ? listed.get(target.reservationId)?.name : undefined;
      evidence.set(target.reservationId, {
        ...fromRead(read, target, options.label),
        ...(elsewhere !== undefined && { listedAs: elsewhere }),
      });
    });
  }
  return evidence;
}

/** A listing that fails proves nothing: its pods are read by name like unlabelled ones. */
async function listedPods(reader: PodReader, namespace: string, group: PodTarget[]): Promise<Map<string, PodSummary>> {
  return reader
    .podsForReservations(
      namespace,
      group.map((target) => target.reservationId),
    )
    .then(
      (found) => found.pods,
      () => new Map<string, PodSummary>(),
    );
}

function fromRead(read: PromiseSettledResult<PodSummary | 'absent'>, target: PodTarget, label: string): PodEvidence {
  if (read.status === 'rejected')
    return { kind: 'unknown', error: `reading the pod failed: ${coerceError(read.reason).message}` };
  if (read.value === 'absent') return { kind: 'absent' };
  const owner = read.value.labels?.[label];
  if (owner !== undefined && owner !== target.reservationId) {
    return { kind: 'unknown', error: `pod ${target.podName} carries another reservation's label (${owner})`, owner };
  }
  return { kind: 'present', pod: read.value };
}

function groupByNamespace(targets: readonly PodTarget[]): Map<string, PodTarget[]> {
  const groups = new Map<string, PodTarget[]>();
  for (const target of targets) groups.set(target.namespace, [...(groups.get(target.namespace) ?? []), target]);
  return groups;
}
