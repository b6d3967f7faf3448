/*
 * Deleting what an entity owns, by label and by expected name, over shared/kube. Each object is
 * read once (a label listing or a GET by name), judged by ownership.ts, and deleted with its uid
 * as a precondition; an object that does not provably belong to the entity is reported, never
 * deleted. Only a 404 naming the object is absence; a lost answer is followed by a read.
 */
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { Conflict, Fatal, NotFound, coerceError } from '../errors.js';
import type { ExpectedNames, LeftAlone, NamedResources, OwnedDeletion, PodEvidence } from '../labelled-resources.js';
import type { Kube } from './index.js';
import { ownerSelector, ownershipOf, selectsOwnedPod } from './ownership.js';
import type { Owner, OwnedObject } from './ownership.js';

type Kind = LeftAlone['kind'];

/** Absent on a definite 404, the object otherwise; any other failure throws. */
async function readOrAbsent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof NotFound) return undefined;
    throw err;
  }
}

const nameOf = (object: OwnedObject) => object.metadata?.name ?? '';

/** Undefined when the object is the owner's; `alsoProof` can prove an otherwise unclaimed object. */
function leftAloneOf(kind: Kind, name: string, object: OwnedObject, owner: Owner, alsoProof?: (object: OwnedObject) => boolean): LeftAlone | undefined {
  const verdict = ownershipOf(object, owner);
  if (verdict.verdict === 'owned' || (verdict.verdict === 'unowned' && alsoProof?.(object))) return undefined;
  return verdict.verdict === 'foreign' ? { kind, name, owner: 'other', claimedBy: verdict.claimedBy } : { kind, name, owner: 'none' };
}

interface Sorted<T> {
  owned: T[];
  leftAlone: LeftAlone[];
}

/**
 * The owner's objects of one kind: the labelled listing (evidence enough), plus the expected name
 * read by name when the listing did not show it.
 */
async function ownedOfKind<T extends OwnedObject>(kind: Kind, listed: T[], expected: string | undefined, read: (name: string) => Promise<T>, owner: Owner, alsoProof?: (object: OwnedObject) => boolean): Promise<Sorted<T>> {
  const owned = listed.filter((object) => ownershipOf(object, owner).verdict === 'owned');
  if (expected === undefined || listed.some((object) => nameOf(object) === expected)) return { owned, leftAlone: [] };
  const object = await readOrAbsent(read(expected));
  if (!object) return { owned, leftAlone: [] };
  const alone = leftAloneOf(kind, expected, object, owner, alsoProof);
  return alone ? { owned, leftAlone: [alone] } : { owned: [...owned, object], leftAlone: [] };
}

export function createOwnedResources(kube: Kube): NamedResources {
  const podsOf = async (namespace: string, owner: Owner, name: string | undefined) => {
    const selector = ownerSelector(owner);
    const listed = selector ? (await kube.listPods({ namespace, labelSelector: selector })).items : [];
    return ownedOfKind<V1Pod>('pod', listed, name, (n) => kube.getPod({ namespace, name: n }), owner);
  };
  /** `ownedPod`: the pod under the expected name, proven the owner's in this same step, if any. */
  const servicesOf = async (namespace: string, owner: Owner, name: string | undefined, ownedPod?: V1Pod) => {
    const selector = ownerSelector(owner);
    const listed = selector ? await kube.listServices({ namespace, labelSelector: selector }) : [];
    const servesOwnedPod = (service: OwnedObject) => ownedPod !== undefined && selectsOwnedPod(service, ownedPod.metadata?.labels);
    return ownedOfKind<V1Service>('service', listed, name, (n) => kube.getService({ namespace, name: n }), owner, servesOwnedPod);
  };

  /** A graceful delete of exactly this pod; when the answer is lost, a read says what happened. */
  const deleteOwnedPod = async (namespace: string, pod: V1Pod, graceSeconds: number): Promise<void> => {
    const name = nameOf(pod);
    const uid = pod.metadata?.uid ?? '';
    try {
      await kube.deletePod({ namespace, name, gracePeriodSeconds: graceSeconds, uid });
    } catch (err) {
      if (err instanceof Conflict) throw err; // the name holds another pod now: not ours to delete
      const now = await readOrAbsent(kube.getPod({ namespace, name })).catch(() => { throw err; });
      if (now && now.metadata?.uid === uid && !now.metadata.deletionTimestamp) throw err;
    }
  };

  return {
    async deleteOwned(namespace, owner, names: ExpectedNames, podGraceSeconds): Promise<OwnedDeletion> {
      const errors: string[] = [];
      const leftAlone: LeftAlone[] = [];
      const note = (what: string) => (err: unknown) => void errors.push(`${what}: ${coerceError(err).message}`);
      const pods = await podsOf(namespace, owner, names.pod).catch((err: unknown) => (note('pods')(err), undefined));
      leftAlone.push(...(pods?.leftAlone ?? []));
      // A pod already terminating keeps its deletion; deleting again would only shorten its grace.
      await Promise.all((pods?.owned ?? []).filter((pod) => !pod.metadata?.deletionTimestamp)
        .map((pod) => deleteOwnedPod(namespace, pod, podGraceSeconds).catch(note(`pod ${nameOf(pod)}`))));
      const namedPod = pods?.owned.find((pod) => nameOf(pod) === names.pod);
      // Without the pod's evidence an origin-style service cannot be judged: it waits for the retry
      // instead of being reported as unowned.
      const services = await servicesOf(namespace, owner, pods ? names.service : undefined, namedPod).catch((err: unknown) => (note('services')(err), undefined));
      leftAlone.push(...(services?.leftAlone ?? []));
      await Promise.all((services?.owned ?? []).map((service) =>
        kube.deleteService({ namespace, name: nameOf(service), uid: service.metadata?.uid ?? '' }).catch(note(`service ${nameOf(service)}`))));
      const selector = ownerSelector(owner);
      if (selector) await kube.deleteIngresses({ namespace, labelSelector: selector }).catch(note('ingresses'));
      return { errors, leftAlone };
    },

    async listOwned(namespace, owner, names) {
      const selector = ownerSelector(owner);
      // With a selector, the listings are the evidence (teardown already confirmed the named pod
      // gone by name); without one, only the expected names can be read.
      const [pods, services, ingresses] = await Promise.all([
        podsOf(namespace, owner, selector ? undefined : names.pod),
        servicesOf(namespace, owner, selector ? undefined : names.service),
        selector ? kube.listIngresses({ namespace, labelSelector: selector }) : Promise.resolve([]),
      ]);
      return [
        ...pods.owned.map((pod) => `pod/${nameOf(pod)}`),
        ...services.owned.map((service) => `service/${nameOf(service)}`),
        ...ingresses.map((ingress) => `ingress/${nameOf(ingress)}`),
      ];
    },

    async podEvidence(namespace, name, owner): Promise<PodEvidence> {
      const pod = await readOrAbsent(kube.getPod({ namespace, name }));
      if (!pod) {
        // The API server answers 404 for a pod in a namespace that does not exist, too (a wrong
        // RESERVATION_NAMESPACE or row): only there does the 404 fail to prove the pod gone.
        if (!(await kube.namespaceExists({ name: namespace }))) throw new Fatal(`namespace ${namespace} does not exist: the 404 for pod ${name} proves nothing`);
        return { state: 'absent' };
      }
      const verdict = ownershipOf(pod, owner);
      if (verdict.verdict === 'owned') return { state: 'owned', uid: verdict.uid, deleting: verdict.deleting };
      return { state: 'not-owned', leftAlone: leftAloneOf('pod', name, pod, owner)! };
    },

    async forceDeletePod(namespace, name, uid) {
      try {
        return (await kube.deletePod({ namespace, name, gracePeriodSeconds: 0, uid })) ? 'deleted' : 'absent';
      } catch (err) {
        if (err instanceof Conflict) return 'replaced';
        throw err;
      }
    },
  };
}
