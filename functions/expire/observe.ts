/*
 * Ask the cluster about reservation pods, applying the evidence rules: a pod found by label is
 * present; a pod not found by label is read by name, and only a definite 404 makes it absent; any
 * error leaves it unknown (origin bug A-1 read every error as "gone").
 */
import { coerceError } from '../../shared/errors.js';
import type { PodReader } from '../../shared/pods.js';
import { mapWithConcurrency } from '../../shared/resilience.js';
import type { PodObservation } from './decide.js';

export interface PodTarget {
  reservationId: string;
  namespace: string;
  podName: string;
}

export async function observePods(reader: PodReader, targets: PodTarget[], concurrency: number): Promise<Map<string, PodObservation>> {
  const observations = new Map<string, PodObservation>();
  for (const [namespace, group] of groupByNamespace(targets)) {
    const listed = await listByLabel(reader, namespace, group);
    const unlisted: PodTarget[] = [];
    for (const target of group) {
      const pod = listed.pods?.get(target.reservationId);
      if (pod && pod.name === target.podName) observations.set(target.reservationId, { kind: 'present', pod });
      else if (listed.error) observations.set(target.reservationId, { kind: 'unknown', error: listed.error });
      else unlisted.push(target);
    }
    const reads = await mapWithConcurrency(unlisted, concurrency, (target) => reader.readPod(namespace, target.podName));
    reads.forEach((read, index) => observations.set(unlisted[index]!.reservationId, fromRead(read)));
  }
  return observations;
}

async function listByLabel(reader: PodReader, namespace: string, group: PodTarget[]) {
  try {
    return { pods: await reader.podsForReservations(namespace, group.map((target) => target.reservationId)) };
  } catch (err) {
    return { error: `listing pods in ${namespace} failed: ${coerceError(err).message}` };
  }
}

function fromRead(read: PromiseSettledResult<Awaited<ReturnType<PodReader['readPod']>>>): PodObservation {
  if (read.status === 'rejected') return { kind: 'unknown', error: coerceError(read.reason).message };
  return read.value === 'absent' ? { kind: 'absent' } : { kind: 'present', pod: read.value };
}

function groupByNamespace(targets: PodTarget[]): Map<string, PodTarget[]> {
  const groups = new Map<string, PodTarget[]>();
  for (const target of targets) groups.set(target.namespace, [...(groups.get(target.namespace) ?? []), target]);
  return groups;
}
