/*
 * What each teardown step does in the world and what it observed. Steps are idempotent: an object
 * already gone counts as deleted, a disk released twice is released once (compare-and-set on the
 * holder), an event staged twice has the same id. Every object is judged by ownership
 * (shared/kube/ownership.ts) from the one read the step makes, and the evidence is reused: the
 * uid read in await_gone is the one a grace-0 delete names.
 */
import type { Ec2Api } from '../../shared/aws/ec2.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';
import { Conflict, coerceError } from '../../shared/errors.js';
import type { Owner } from '../../shared/kube/ownership.js';
import type { ExpectedNames, LeftAlone, NamedResources } from '../../shared/labelled-resources.js';
import type { DiskHolding, Observation, Step, VolumeView } from './decide.js';

export interface StepDeps {
  resources: NamedResources;
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
  owner: Owner;
  names: ExpectedNames;
  disk: DiskHolding;
}

/** An observation with the evidence behind it. */
export interface Observed {
  observation: Observation;
  /** Objects under the reservation's names that belong to someone else or no one: left alone. */
  leftAlone: LeftAlone[];
  /** The reservation's pod as read in await_gone, for a grace-0 delete of exactly that pod. */
  podUid?: string;
}

export function targetOf(row: TeardownRow, deps: Pick<StepDeps, 'reservationLabel' | 'defaultNamespace'>): Target {
  return {
    reservationId: row.reservation_id,
    namespace: row.namespace ?? deps.defaultNamespace,
    podName: row.pod_name,
    volumeId: row.ebs_volume_id,
    owner: { key: deps.reservationLabel, id: row.reservation_id },
    names: row.pod_name ? { pod: row.pod_name, service: `${row.pod_name}-ssh` } : {},
    // No disk row at all: the reservation's own volume, since nothing records another holder.
    disk: row.holds_disk || !row.disk_recorded ? { holds: true } : { holds: false, holder: row.disk_holder },
  };
}

const seen = (observation: Observation, leftAlone: LeftAlone[] = []): Observed => ({ observation, leftAlone });

export interface StepState {
  /** How long the teardown has been in this step. */
  secondsInStep: number;
  /** This run already judged the pod under the name not the reservation's (no second read). */
  podLeftAlone: boolean;
}

export async function observe(step: Step, target: Target, deps: StepDeps, state: StepState): Promise<Observed> {
  switch (step) {
    case 'delete_resources':
      return deleteOwned(target, deps);
    case 'await_gone':
      return state.podLeftAlone ? seen({ step, pod: 'not-ours' }) : podState(target, deps, state.secondsInStep);
    case 'await_detach':
      return seen({ step, volume: target.disk.holds ? await volumeState(target, deps.ec2) : { kind: 'not-held', holder: target.disk.holder } });
    case 'request_snapshot':
      return seen({ step, disk: target.disk });
    case 'verify':
      return seen({ step, remaining: await deps.resources.listOwned(target.namespace, target.owner, target.names).catch(() => null) });
    case 'release_disk':
    case 'done':
      return seen({ step: 'release_disk' });
  }
}

async function deleteOwned(target: Target, deps: StepDeps): Promise<Observed> {
  const { errors, leftAlone } = await deps.resources.deleteOwned(target.namespace, target.owner, target.names, deps.podDeleteGraceSeconds)
    .catch((err: unknown) => ({ errors: [coerceError(err).message], leftAlone: [] }));
  return seen({ step: 'delete_resources', deleted: errors.length === 0, errors }, leftAlone);
}

async function podState(target: Target, deps: StepDeps, secondsInStep: number): Promise<Observed> {
  const step = 'await_gone';
  if (!target.podName) return seen({ step, pod: 'gone' });
  try {
    const evidence = await deps.resources.podEvidence(target.namespace, target.podName, target.owner);
    if (evidence.state === 'absent') return seen({ step, pod: 'gone' });
    if (evidence.state === 'not-owned') return seen({ step, pod: 'not-ours' }, [evidence.leftAlone]);
    if (!evidence.deleting) return seen({ step, pod: 'running' });
    return { observation: { step, pod: 'present', terminatingForSeconds: secondsInStep }, leftAlone: [], podUid: evidence.uid };
  } catch {
    return seen({ step, pod: 'unknown' });
  }
}

async function volumeState(target: Target, ec2: Ec2Api): Promise<VolumeView> {
  if (!target.volumeId) return { kind: 'none' };
  try {
    const { found, missingIds } = await ec2.describeVolumesByIds([target.volumeId]);
    if (missingIds.includes(target.volumeId)) return { kind: 'missing' };
    const volume = found.find((v) => v.volumeId === target.volumeId);
    if (!volume) return { kind: 'unknown', reason: 'EC2 answered without the volume' };
    return { kind: 'seen', state: volume.state, attachments: volume.attachmentStates };
  } catch (err) {
    const reason = err instanceof Conflict ? `IncorrectState: ${err.message}` : coerceError(err).message;
    return { kind: 'unknown', reason };
  }
}
