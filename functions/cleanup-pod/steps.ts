/*
 * What each teardown step does in the world and what it observed. Steps are idempotent: a pod or
 * service already gone counts as deleted, a disk released twice is released once (compare-and-set
 * on the holder), an event staged twice has the same id.
 */
import type { Ec2Api } from '../../shared/aws/ec2.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';
import { coerceError } from '../../shared/errors.js';
import type { LabelledResources, NamedResources } from '../../shared/labelled-resources.js';
import type { PodReader } from '../../shared/pods.js';
import type { Observation, Step } from './decide.js';

export interface StepDeps {
  pods: PodReader;
  resources: LabelledResources & NamedResources;
  ec2: Ec2Api;
  reservationLabel: string;
  defaultNamespace: string;
  podDeleteGraceSeconds: number;
}

export interface Target {
  reservationId: string;
  namespace: string;
  podName: string | null;
  volumeId: string | null;
  selector: string;
}

export function targetOf(row: TeardownRow, deps: StepDeps): Target {
  return {
    reservationId: row.reservation_id,
    namespace: row.namespace ?? deps.defaultNamespace,
    podName: row.pod_name,
    volumeId: row.ebs_volume_id,
    selector: `${deps.reservationLabel}=${row.reservation_id}`,
  };
}

/** Observe the world for the steps that need it; database-only steps observe nothing. */
export async function observe(step: Step, target: Target, deps: StepDeps, secondsInStep: number): Promise<Observation | undefined> {
  switch (step) {
    case 'delete_resources':
      return deleteEverything(target, deps, deps.podDeleteGraceSeconds);
    case 'await_gone':
      return { step, ...(await podState(target, deps)), terminatingForSeconds: secondsInStep };
    case 'await_detach':
      return { step, volume: await volumeState(target, deps.ec2) };
    case 'verify':
      return { step, remaining: await remaining(target, deps) };
    default:
      return undefined;
  }
}

export async function deleteEverything(target: Target, deps: StepDeps, graceSeconds: number): Promise<Observation> {
  const errors: string[] = [];
  if (target.podName) {
    // Grace first, so the user's processes can exit cleanly; grace 0 only if that call failed.
    await deps.resources.deletePod(target.namespace, target.podName, graceSeconds)
      .catch(() => deps.resources.deletePod(target.namespace, target.podName!, 0))
      .catch((err: unknown) => errors.push(`pod ${target.podName}: ${coerceError(err).message}`));
    await deps.resources.deleteService(target.namespace, `${target.podName}-ssh`)
      .catch((err: unknown) => errors.push(`service ${target.podName}-ssh: ${coerceError(err).message}`));
  }
  const labelled = await deps.resources.deleteLabelled(target.namespace, target.selector, graceSeconds)
    .catch((err: unknown) => ({ errors: [coerceError(err).message] }));
  errors.push(...labelled.errors);
  return { step: 'delete_resources', deleted: errors.length === 0, errors };
}

async function podState(target: Target, deps: StepDeps): Promise<{ pod: 'gone' | 'present' | 'unknown' }> {
  if (!target.podName) return { pod: 'gone' };
  try {
    return { pod: (await deps.pods.readPod(target.namespace, target.podName)) === 'absent' ? 'gone' : 'present' };
  } catch {
    return { pod: 'unknown' };
  }
}

async function volumeState(target: Target, ec2: Ec2Api): Promise<'available' | 'attached' | 'missing' | 'none' | 'unknown'> {
  if (!target.volumeId) return 'none';
  try {
    const { found, missingIds } = await ec2.describeVolumesByIds([target.volumeId]);
    if (missingIds.includes(target.volumeId)) return 'missing';
    const volume = found[0];
    if (!volume) return 'unknown';
    return volume.state === 'available' ? 'available' : 'attached';
  } catch {
    return 'unknown';
  }
}

async function remaining(target: Target, deps: StepDeps): Promise<string[] | null> {
  try {
    const labelled = await deps.resources.listLabelled(target.namespace, target.selector);
    const pod = target.podName ? await deps.pods.readPod(target.namespace, target.podName) : 'absent';
    return pod === 'absent' ? labelled : [...new Set([...labelled, `pod/${target.podName}`])];
  } catch {
    return null;
  }
}
