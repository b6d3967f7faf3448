/*
 * What each teardown step does in the world and what it observed, for every teardown of the sweep
 * at that step at once: delete_resources deletes (`deleteResources`), every other step only reads
 * (`observe`), and `performStep` says which. Steps are idempotent: an object already gone counts as deleted, a disk
 * released twice is released once (compare-and-set on the holder), an event staged twice has the
 * same id. Every object is judged by ownership (shared/kube/ownership.ts) from the one read the
 * step makes, and the evidence is reused: the uid read in await_gone is the one a grace-0 delete
 * names. Reads are shared across teardowns where the API allows it: one labelled listing per kind
 * for 50 reservations, one namespace read per namespace, one DescribeVolumes for 200 volumes.
 */
import type { Ec2Api } from '../../shared/aws/ec2.js';
import type { TeardownRow } from '../../shared/db/queries/cleanup.js';
import type { LeftAlone, NamedResources, PodEvidence } from '../../shared/kube/labelled-resources.js';
import type { Observation } from './decide.js';
import type { Step, Target } from './types.js';
import { volumeViews } from './volume-read.js';

export interface StepDeps {
  resources: NamedResources;
  ec2: Ec2Api;
  reservationLabel: string;
  defaultNamespace: string;
  podDeleteGraceSeconds: number;
  /** Bound on the reads and deletes in flight for one step of the sweep. */
  concurrency: number;
}

/** An observation with the evidence behind it. */
export interface Observed {
  observation: Observation;
  /** Objects under the reservation's names that belong to someone else or no one: left alone. */
  leftAlone: LeftAlone[];
  /** The reservation's pod as read in await_gone, for a grace-0 delete of exactly that pod. */
  podUid?: string;
  /** delete_resources: a pod of the reservation is terminating (deleted just now, or already). */
  podsTerminating?: boolean;
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
  target: Target;
  /** How long the teardown has been in this step. */
  secondsInStep: number;
  /** This run already judged the pod under the name not the reservation's (no second read). */
  podLeftAlone: boolean;
  /**
   * This run's delete left the reservation's pod terminating and its grace period has not been
   * waited out: a read now would only say so. A later run (or this one, after the wait) reads it.
   */
  justDeleted: boolean;
}

/** Carry out `step` for every teardown at it (deleting at delete_resources), in the order given. */
export function performStep(step: Step, states: StepState[], deps: StepDeps): Promise<Observed[]> {
  return step === 'delete_resources' ? deleteResources(states, deps) : observe(step, states, deps);
}

/** Delete what provably belongs to each reservation; the observation is how the deletes went. */
function deleteResources(states: StepState[], deps: StepDeps): Promise<Observed[]> {
  return byNamespace(states, (namespace, group) => deleteOwned(namespace, group, deps));
}

/** What every teardown at a waiting or disk step sees; reads only. */
async function observe(
  step: Exclude<Step, 'delete_resources'>,
  states: StepState[],
  deps: StepDeps,
): Promise<Observed[]> {
  switch (step) {
    case 'await_gone':
      return byNamespace(states, (namespace, group) => podStates(namespace, group, deps));
    case 'await_detach':
      return (
        await volumeViews(
          states.map((state) => state.target),
          deps.ec2,
        )
      ).map((volume) => seen({ step, volume }));
    case 'request_snapshot':
      return states.map(({ target }) => seen({ step, disk: target.disk }));
    case 'verify':
      return byNamespace(states, async (namespace, group) =>
        (
          await deps.resources.listOwnedMany(
            namespace,
            group.map(({ target }) => target),
          )
        ).map((remaining) => seen({ step, remaining: remaining instanceof Error ? null : remaining })),
      );
    case 'release_disk':
    case 'done':
      return states.map(() => seen({ step: 'release_disk' }));
  }
}

/** Runs `observe` once per namespace and puts the answers back in the order of `states`. */
async function byNamespace(
  states: StepState[],
  observe: (namespace: string, group: StepState[]) => Promise<Observed[]>,
): Promise<Observed[]> {
  const groups = new Map<string, number[]>();
  states.forEach((state, i) => groups.set(state.target.namespace, [...(groups.get(state.target.namespace) ?? []), i]));
  const out: Observed[] = new Array<Observed>(states.length);
  await Promise.all(
    [...groups].map(async ([namespace, indexes]) => {
      const observed = await observe(
        namespace,
        indexes.map((i) => states[i]!),
      );
      indexes.forEach((i, k) => {
        out[i] = observed[k]!;
      });
    }),
  );
  return out;
}

async function deleteOwned(namespace: string, group: StepState[], deps: StepDeps): Promise<Observed[]> {
  const results = await deps.resources.deleteOwnedMany(
    namespace,
    group.map(({ target }) => target),
    deps.podDeleteGraceSeconds,
    deps.concurrency,
  );
  return results.map(({ errors, leftAlone, podsTerminating }) => ({
    ...seen({ step: 'delete_resources', deleted: errors.length === 0, errors }, leftAlone),
    podsTerminating: podsTerminating === true,
  }));
}

async function podStates(namespace: string, group: StepState[], deps: StepDeps): Promise<Observed[]> {
  const step = 'await_gone';
  const toRead = group.filter((state) => state.target.podName && !state.podLeftAlone && !state.justDeleted);
  const evidence = await deps.resources.podsEvidence(
    namespace,
    toRead.map(({ target }) => ({ name: target.podName!, owner: target.owner })),
    deps.concurrency,
  );
  const read = new Map<StepState, PodEvidence | Error>(toRead.map((state, i) => [state, evidence[i]!]));
  return group.map((state) => {
    if (!state.target.podName) return seen({ step, pod: 'gone' });
    if (state.podLeftAlone) return seen({ step, pod: 'not-ours' });
    if (state.justDeleted) return seen({ step, pod: 'present', terminatingForSeconds: 0 });
    return podObserved(read.get(state)!, state.secondsInStep);
  });
}

function podObserved(evidence: PodEvidence | Error, secondsInStep: number): Observed {
  const step = 'await_gone';
  if (evidence instanceof Error) return seen({ step, pod: 'unknown' });
  if (evidence.state === 'absent') return seen({ step, pod: 'gone' });
  if (evidence.state === 'not-owned') return seen({ step, pod: 'not-ours' }, [evidence.leftAlone]);
  if (!evidence.deleting) return seen({ step, pod: 'running' });
  return {
    observation: { step, pod: 'present', terminatingForSeconds: secondsInStep },
    leftAlone: [],
    podUid: evidence.uid,
  };
}
