/*
 * Ownership before destruction (SPEC 5.9), decided in one place for every function. An object
 * belongs to an entity (a reservation, a lab) only when its metadata names that entity: the
 * owner label (`RESERVATION_LABEL` / `LAB_LABEL`) carries the id, or, for an id that cannot be a
 * label value (over 63 characters, quotes, spaces, `$`, a newline), an annotation under the same
 * key carries it exactly (annotations take any string). A Service also belongs to the entity
 * whose pod it selects by that key. A matching name proves nothing: pod names are derived from an
 * 8-character prefix and are reused. Pure: callers read the object once and pass it in.
 */

/** The entity being torn down: the label/annotation key and the entity's id. */
export interface Owner {
  key: string;
  id: string;
}

/** The parts of a Kubernetes object that carry ownership (V1Pod, V1Service, V1Ingress all fit). */
export interface OwnedObject {
  metadata?: {
    name?: string;
    uid?: string;
    labels?: Record<string, string> | null;
    annotations?: Record<string, string> | null;
    deletionTimestamp?: Date | string | null;
  } | null;
  /** Read only for a Service's `selector`; typed loosely so pods and ingresses fit too. */
  spec?: object | null;
}

function selectorOf(object: OwnedObject): Record<string, string> {
  const selector = (object.spec as { selector?: unknown } | null | undefined)?.selector;
  return typeof selector === 'object' && selector !== null ? (selector as Record<string, string>) : {};
}

export type Ownership =
  /** Provably the entity's; `uid` goes into the delete precondition. */
  | { verdict: 'owned'; uid: string; deleting: boolean }
  /** Names another entity under the owner key: never touched. */
  | { verdict: 'foreign'; claimedBy: string }
  /** Names no entity at all: never touched, because nothing proves it is ours. */
  | { verdict: 'unowned' };

// Kubernetes: at most 63 characters, alphanumerics with '-', '_' or '.' inside.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** True when `value` can be a label value and so travel in a label selector (empty is refused). */
export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}

/** `key=id`, or undefined when the id is not a label value (a selector with it is refused with 400). */
export function ownerSelector(owner: Owner): string | undefined {
  return isLabelValue(owner.id) ? `${owner.key}=${owner.id}` : undefined;
}

/**
 * One selector for several owners under one key: `key=id` for one, `key in (a,b)` for more. Only
 * for ids that are label values (callers filter with isLabelValue; others never reach a selector).
 */
export function ownersSelector(key: string, ids: readonly string[]): string {
  if (ids.length === 0 || !ids.every(isLabelValue))
    throw new RangeError('ownersSelector: every id must be a label value');
  return ids.length === 1 ? `${key}=${ids[0]}` : `${key} in (${ids.join(',')})`;
}

/**
 * A Service without our label (the origin's `<pod>-ssh` selects `reservation: <pod name>`) is the
 * owner's when its selector picks the pod just proven the owner's: a non-empty selector whose every
 * pair that pod carries. Only valid while that pod holds the name, so callers judge both in one step.
 */
export function selectsOwnedPod(
  service: OwnedObject,
  ownedPodLabels: Record<string, string> | null | undefined,
): boolean {
  const selector = Object.entries(selectorOf(service));
  return (
    selector.length > 0 &&
    ownedPodLabels !== null &&
    ownedPodLabels !== undefined &&
    selector.every(([key, value]) => ownedPodLabels[key] === value)
  );
}

export function ownershipOf(object: OwnedObject, owner: Owner): Ownership {
  const metadata = object.metadata ?? {};
  const claims = [
    metadata.labels?.[owner.key],
    metadata.annotations?.[owner.key],
    selectorOf(object)[owner.key],
  ].filter((claim): claim is string => typeof claim === 'string');
  const uid = metadata.uid ?? '';
  // A uid is what makes the later delete hit this object and no other; without it, it is not ours to delete.
  if (claims.includes(owner.id) && uid !== '') {
    const foreign = claims.find((claim) => claim !== owner.id);
    // Two different claims on one object is ambiguous evidence: it is left alone.
    if (foreign === undefined) return { verdict: 'owned', uid, deleting: Boolean(metadata.deletionTimestamp) };
    return { verdict: 'foreign', claimedBy: foreign };
  }
  const foreign = claims.find((claim) => claim !== owner.id);
  return foreign === undefined ? { verdict: 'unowned' } : { verdict: 'foreign', claimedBy: foreign };
}
