/*
 * Everything in a namespace that belongs to an entity: what teardown deletes and then verifies. A
 * port over the Kubernetes client, shared by cleanup-pod (reservation resources) and
 * ending-watchdog (lab resources). Ownership is decided by shared/kube/ownership.ts; every delete
 * of a single object carries its uid as a precondition, so the object checked is the one deleted.
 */
import type { Owner } from './kube/ownership.js';

/** Objects expected under a name (older writers created them without our label). */
export interface ExpectedNames {
  pod?: string;
  service?: string;
}

/** An object with an expected name that does not provably belong to the owner: left alone. */
export interface LeftAlone {
  kind: 'pod' | 'service';
  name: string;
  /** `other`: it names another entity (`claimedBy`); `none`: it names no entity. */
  owner: 'other' | 'none';
  claimedBy?: string;
}

export interface OwnedDeletion {
  /** Failures (unknown outcomes): the caller retries and never treats them as done. */
  errors: string[];
  leftAlone: LeftAlone[];
}

/** The named pod as evidence: absent only on a definite 404; any other failure throws. */
export type PodEvidence =
  | { state: 'absent' }
  | { state: 'owned'; uid: string; deleting: boolean }
  | { state: 'not-owned'; leftAlone: LeftAlone };

export interface NamedResources {
  /**
   * Delete what belongs to `owner`: everything labelled with it (when its id is a label value) and
   * the expected names when read back as its own. Pods already terminating are not deleted again.
   * A delete whose answer is lost is followed by a read, never by a grace-0 delete.
   */
  deleteOwned(namespace: string, owner: Owner, names: ExpectedNames, podGraceSeconds: number): Promise<OwnedDeletion>;
  /** What of the owner's still exists, as "kind/name". Throws if it cannot tell. */
  listOwned(namespace: string, owner: Owner, names: ExpectedNames): Promise<string[]>;
  /** Read the pod under `name` and say whose it is. */
  podEvidence(namespace: string, name: string, owner: Owner): Promise<PodEvidence>;
  /** Grace-0 delete of exactly the pod with `uid`; `replaced` when the name now holds another pod. */
  forceDeletePod(namespace: string, name: string, uid: string): Promise<'deleted' | 'absent' | 'replaced'>;
}
