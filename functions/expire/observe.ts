/*
 * Ask the cluster about reservation pods, applying the evidence rules: a pod found by label is
 * present; a pod not found by label (unlabelled, gone, or an id that cannot be a label value) is
 * read by name, and only a definite 404 in a namespace that exists makes it absent; a pod under the
 * name that carries another reservation's label says nothing about this one; any error leaves it
 * unknown (origin bug A-1 read every error as "gone"). One failed listing chunk or read costs only
 * its own reservations.
 */
import { coerceError } from '../../shared/errors.js';
import type { PodSummary } from '../../shared/pod-health.js';
import type { LabelledPods, PodReader } from '../../shared/pods.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { PodObservation } from './decide.js';

export interface PodTarget {
  reservationId: string;
  namespace: string;
  podName: string;
}

export interface ObserveOptions {
  /** The reservation label key: a pod read by name must not carry another reservation's id in it. */
  label: string;
  concurrency: number;
}

export async function observePods(reader: PodReader, targets: PodTarget[], options: ObserveOptions): Promise<Map<string, PodObservation>> {
  const observations = new Map<string, PodObservation>();
  for (const [namespace, group] of groupByNamespace(targets)) {
    const listed = await listByLabel(reader, namespace, group);
    const unlisted: PodTarget[] = [];
    for (const target of group) {
      const pod = listed.pods.get(target.reservationId);
      const failed = listed.failed.get(target.reservationId);
      if (pod && pod.name === target.podName) observations.set(target.reservationId, { kind: 'present', pod });
      else if (failed !== undefined) observations.set(target.reservationId, { kind: 'unknown', error: failed });
      else unlisted.push(target);
    }
    const reads = await mapWithConcurrency(unlisted, options.concurrency, (target) => reader.readPod(namespace, target.podName));
    reads.forEach((read, index) => observations.set(unlisted[index]!.reservationId, fromRead(read, unlisted[index]!, options.label)));
  }
  return observations;
}

async function listByLabel(reader: PodReader, namespace: string, group: PodTarget[]): Promise<LabelledPods> {
  const ids = group.map((target) => target.reservationId);
  try {
    return await reader.podsForReservations(namespace, ids);
  } catch (err) {
    const error = `listing pods in ${namespace} failed: ${coerceError(err).message}`;
    return { pods: new Map(), failed: new Map(ids.map((id) => [id, error])) };
  }
}

function fromRead(read: PromiseSettledResult<PodSummary | 'absent'>, target: PodTarget, label: string): PodObservation {
  if (read.status === 'rejected') return { kind: 'unknown', error: coerceError(read.reason).message };
  if (read.value === 'absent') return { kind: 'absent' };
  const owner = read.value.labels?.[label];
  if (owner !== undefined && owner !== target.reservationId) {
    return { kind: 'unknown', error: `pod ${target.podName} carries another reservation's label (${owner})` };
  }
  return { kind: 'present', pod: read.value };
}

function groupByNamespace(targets: PodTarget[]): Map<string, PodTarget[]> {
  const groups = new Map<string, PodTarget[]>();
  for (const target of targets) groups.set(target.namespace, [...(groups.get(target.namespace) ?? []), target]);
  return groups;
}
