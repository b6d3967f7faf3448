/*
 * Deleting what entities own, by label and by expected name, over shared/kube. Each object is
 * read once (a label listing or a GET by name), judged by ownership.ts, and deleted with its uid
 * as a precondition; an object that does not provably belong to the entity is reported, never
 * deleted. Only a 404 naming the object is absence; a lost answer is followed by a read. Many
 * entities share one labelled listing per kind (`key in (…)`, 50 ids a call): a sweep pays one
 * listing per 50 teardowns instead of one per teardown, and a failed listing blinds only its ids.
 */
import type { V1Ingress, V1Pod, V1Service } from '@kubernetes/client-node';
import { Conflict, Fatal, NotFound, coerceError } from '../errors.js';
import type {
  ExpectedNames,
  LeftAlone,
  NamedResources,
  OwnedDeletion,
  OwnedTarget,
  PodEvidence,
} from './labelled-resources.js';
import { mapWithConcurrency } from '../resilience.js';
import type { Kube } from './index.js';
import { isLabelValue, ownersSelector, ownershipOf, selectsOwnedPod } from './ownership.js';
import type { Owner, OwnedObject } from './ownership.js';
import { chunks } from '../chunks.js';

type Kind = LeftAlone['kind'];
/** Per owner id: the objects labelled with it, or the error of the listing that should have shown them. */
type Listed<T> = Map<string, T[] | Error>;

const OWNERS_PER_LISTING = 50;

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
function leftAloneOf(
  kind: Kind,
  name: string,
  object: OwnedObject,
  owner: Owner,
  alsoProof?: (object: OwnedObject) => boolean,
): LeftAlone | undefined {
  const verdict = ownershipOf(object, owner);
  if (verdict.verdict === 'owned' || (verdict.verdict === 'unowned' && alsoProof?.(object))) return undefined;
  return verdict.verdict === 'foreign'
    ? { kind, name, owner: 'other', claimedBy: verdict.claimedBy }
    : { kind, name, owner: 'none' };
}

interface Sorted<T> {
  owned: T[];
  leftAlone: LeftAlone[];
}

/** The listing for one owner: none without a selector, the listing's error rethrown. */
function listedFor<T>(listed: Listed<T>, owner: Owner): T[] {
  const found = listed.get(owner.id);
  if (found instanceof Error) throw found;
  return found ?? [];
}

/**
 * The owner's objects of one kind: the labelled listing (evidence enough), plus the expected name
 * read by name when the listing did not show it.
 */
async function ownedOfKind<T extends OwnedObject>(
  kind: Kind,
  listed: T[],
  expected: string | undefined,
  read: (name: string) => Promise<T>,
  owner: Owner,
  alsoProof?: (object: OwnedObject) => boolean,
): Promise<Sorted<T>> {
  const owned = listed.filter((object) => ownershipOf(object, owner).verdict === 'owned');
  if (expected === undefined || listed.some((object) => nameOf(object) === expected)) return { owned, leftAlone: [] };
  const object = await readOrAbsent(read(expected));
  if (!object) return { owned, leftAlone: [] };
  const alone = leftAloneOf(kind, expected, object, owner, alsoProof);
  return alone ? { owned, leftAlone: [alone] } : { owned: [...owned, object], leftAlone: [] };
}

/** One listing per key and 50 label-value ids; owners whose id is not a label value get no entry. */
async function listByOwners<T extends OwnedObject>(
  owners: Owner[],
  list: (labelSelector: string) => Promise<T[]>,
): Promise<Listed<T>> {
  const idsByKey = new Map<string, Set<string>>();
  for (const owner of owners.filter((o) => isLabelValue(o.id)))
    idsByKey.set(owner.key, (idsByKey.get(owner.key) ?? new Set()).add(owner.id));
  const listed: Listed<T> = new Map();
  const calls = [...idsByKey].flatMap(([key, ids]) =>
    chunks([...ids], OWNERS_PER_LISTING).map(async (chunk) => {
      try {
        const byId = new Map<string, T[]>(chunk.map((id) => [id, []]));
        for (const item of await list(ownersSelector(key, chunk)))
          byId.get(item.metadata?.labels?.[key] ?? '')?.push(item);
        for (const [id, items] of byId) listed.set(id, items);
      } catch (err) {
        for (const id of chunk) listed.set(id, coerceError(err));
      }
    }),
  );
  await Promise.all(calls);
  return listed;
}

interface Listings {
  pods: Listed<V1Pod>;
  services: Listed<V1Service>;
  ingresses: Listed<V1Ingress>;
}

export function createOwnedResources(kube: Kube): NamedResources {
  const listings = async (namespace: string, owners: Owner[]): Promise<Listings> => {
    const [pods, services, ingresses] = await Promise.all([
      listByOwners(owners, async (labelSelector) => (await kube.listPods({ namespace, labelSelector })).items),
      listByOwners(owners, (labelSelector) => kube.listServices({ namespace, labelSelector })),
      listByOwners(owners, (labelSelector) => kube.listIngresses({ namespace, labelSelector })),
    ]);
    return { pods, services, ingresses };
  };
  // Async, so a failed listing rejects rather than throws: each kind's `.catch` below then blinds
  // only that kind, and the kinds whose listings answered are still torn down in this run.
  const podsOf = async (namespace: string, listed: Listed<V1Pod>, owner: Owner, name: string | undefined) =>
    ownedOfKind<V1Pod>('pod', listedFor(listed, owner), name, (n) => kube.getPod({ namespace, name: n }), owner);
  /** `ownedPod`: the pod under the expected name, proven the owner's in this same step, if any. */
  const servicesOf = async (
    namespace: string,
    listed: Listed<V1Service>,
    owner: Owner,
    name: string | undefined,
    ownedPod?: V1Pod,
  ) => {
    const servesOwnedPod = (service: OwnedObject) =>
      ownedPod !== undefined && selectsOwnedPod(service, ownedPod.metadata?.labels);
    return ownedOfKind<V1Service>(
      'service',
      listedFor(listed, owner),
      name,
      (n) => kube.getService({ namespace, name: n }),
      owner,
      servesOwnedPod,
    );
  };
  const ingressesOf = (listed: Listed<V1Ingress>, owner: Owner) =>
    listedFor(listed, owner).filter((ingress) => ownershipOf(ingress, owner).verdict === 'owned');

  /** A graceful delete of exactly this pod; when the answer is lost, a read says what happened. */
  const deleteOwnedPod = async (namespace: string, pod: V1Pod, graceSeconds: number): Promise<void> => {
    const name = nameOf(pod);
    const uid = pod.metadata?.uid ?? '';
    try {
      await kube.deletePod({ namespace, name, gracePeriodSeconds: graceSeconds, uid });
    } catch (err) {
      if (err instanceof Conflict) throw err; // the name holds another pod now: not ours to delete
      const now = await readOrAbsent(kube.getPod({ namespace, name })).catch(() => {
        throw err;
      });
      if (now && now.metadata?.uid === uid && !now.metadata.deletionTimestamp) throw err;
    }
  };

  const deleteTarget = async (
    namespace: string,
    listed: Listings,
    { owner, names }: OwnedTarget,
    podGraceSeconds: number,
  ): Promise<OwnedDeletion> => {
    const errors: string[] = [];
    const leftAlone: LeftAlone[] = [];
    const note = (what: string) => (err: unknown) => void errors.push(`${what}: ${coerceError(err).message}`);
    const pods = await podsOf(namespace, listed.pods, owner, names.pod).catch(
      (err: unknown) => (note('pods')(err), undefined),
    );
    leftAlone.push(...(pods?.leftAlone ?? []));
    // A pod already terminating keeps its deletion; deleting again would only shorten its grace.
    const deleted = await Promise.all(
      (pods?.owned ?? [])
        .filter((pod) => !pod.metadata?.deletionTimestamp)
        .map((pod) =>
          deleteOwnedPod(namespace, pod, podGraceSeconds).then(
            () => true,
            (err: unknown) => (note(`pod ${nameOf(pod)}`)(err), false),
          ),
        ),
    );
    const terminating = deleted.includes(true) || (pods?.owned ?? []).some((pod) => pod.metadata?.deletionTimestamp);
    const namedPod = pods?.owned.find((pod) => nameOf(pod) === names.pod);
    // Without the pod's evidence an origin-style service cannot be judged: it waits for the retry
    // instead of being reported as unowned.
    const services = await servicesOf(
      namespace,
      listed.services,
      owner,
      pods ? names.service : undefined,
      namedPod,
    ).catch((err: unknown) => (note('services')(err), undefined));
    leftAlone.push(...(services?.leftAlone ?? []));
    await Promise.all(
      (services?.owned ?? []).map((service) =>
        kube
          .deleteService({ namespace, name: nameOf(service), uid: service.metadata?.uid ?? '' })
          .catch(note(`service ${nameOf(service)}`)),
      ),
    );
    const ingresses = (() => {
      try {
        return ingressesOf(listed.ingresses, owner);
      } catch (err) {
        note('ingresses')(err);
        return [];
      }
    })();
    await Promise.all(
      ingresses.map((ingress) =>
        kube
          .deleteIngress({ namespace, name: nameOf(ingress), uid: ingress.metadata?.uid ?? '' })
          .catch(note(`ingress ${nameOf(ingress)}`)),
      ),
    );
    return { errors, leftAlone, ...(terminating && { podsTerminating: true as const }) };
  };

  const remainingOf = async (namespace: string, listed: Listings, { owner, names }: OwnedTarget): Promise<string[]> => {
    // With a selector, the listings are the evidence (teardown already confirmed the named pod
    // gone by name); without one, only the expected names can be read.
    const labelled = isLabelValue(owner.id);
    const [pods, services] = await Promise.all([
      podsOf(namespace, listed.pods, owner, labelled ? undefined : names.pod),
      servicesOf(namespace, listed.services, owner, labelled ? undefined : names.service),
    ]);
    return [
      ...pods.owned.map((pod) => `pod/${nameOf(pod)}`),
      ...services.owned.map((service) => `service/${nameOf(service)}`),
      ...ingressesOf(listed.ingresses, owner).map((ingress) => `ingress/${nameOf(ingress)}`),
    ];
  };

  const resources: NamedResources = {
    async deleteOwnedMany(namespace, targets, podGraceSeconds, concurrency) {
      const listed = await listings(
        namespace,
        targets.map((target) => target.owner),
      );
      const results = await mapWithConcurrency(targets, concurrency, (target) =>
        deleteTarget(namespace, listed, target, podGraceSeconds),
      );
      return results.map((result) =>
        result.status === 'fulfilled' ? result.value : { errors: [coerceError(result.reason).message], leftAlone: [] },
      );
    },

    async deleteOwned(namespace, owner, names: ExpectedNames, podGraceSeconds) {
      const [result] = await resources.deleteOwnedMany(namespace, [{ owner, names }], podGraceSeconds, 1);
      return result!;
    },

    async listOwnedMany(namespace, targets) {
      const listed = await listings(
        namespace,
        targets.map((target) => target.owner),
      );
      const results = await mapWithConcurrency(targets, 8, (target) => remainingOf(namespace, listed, target));
      return results.map((result) => (result.status === 'fulfilled' ? result.value : coerceError(result.reason)));
    },

    async listOwned(namespace, owner, names) {
      const [result] = await resources.listOwnedMany(namespace, [{ owner, names }]);
      if (result instanceof Error) throw result;
      return result!;
    },

    async podsEvidence(namespace, pods, concurrency): Promise<Array<PodEvidence | Error>> {
      // The API server answers 404 for a pod in a namespace that does not exist, too (a wrong
      // RESERVATION_NAMESPACE or row): only where it exists does the 404 prove the pod gone.
      let namespaceRead: Promise<boolean> | undefined;
      const namespaceExists = () => (namespaceRead ??= kube.namespaceExists({ name: namespace }));
      const results = await mapWithConcurrency(pods, concurrency, async ({ name, owner }): Promise<PodEvidence> => {
        const pod = await readOrAbsent(kube.getPod({ namespace, name }));
        if (!pod) {
          if (!(await namespaceExists()))
            throw new Fatal(`namespace ${namespace} does not exist: the 404 for pod ${name} proves nothing`);
          return { state: 'absent' };
        }
        const verdict = ownershipOf(pod, owner);
        if (verdict.verdict === 'owned') return { state: 'owned', uid: verdict.uid, deleting: verdict.deleting };
        return { state: 'not-owned', leftAlone: leftAloneOf('pod', name, pod, owner)! };
      });
      return results.map((result) => (result.status === 'fulfilled' ? result.value : coerceError(result.reason)));
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
  return resources;
}
