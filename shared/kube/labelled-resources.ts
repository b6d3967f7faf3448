/*
 * Everything in a namespace that belongs to an entity: what teardown deletes and then verifies. A
 * port over the Kubernetes client, shared by cleanup-pod (reservation resources) and
 * ending-watchdog (lab resources). Ownership is decided by shared/kube/ownership.ts; every delete
 * of a single object carries its uid as a precondition, so the object checked is the one deleted.
 */
import type { Owner } from './ownership.js';

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
  /** Set when an owned pod is terminating after the call (deleted by it, or already): reading it again now would only say so. */
  podsTerminating?: true;
}

/** The named pod as evidence: absent only on a definite 404; any other failure throws. */
export type PodEvidence =
  | { state: 'absent' }
  | { state: 'owned'; uid: string; deleting: boolean }
  | { state: 'not-owned'; leftAlone: LeftAlone };

/** One entity of a batched call: its owner and the names its objects may have. */
export interface OwnedTarget {
  owner: Owner;
  names: ExpectedNames;
}

export interface NamedResources {
  /**
   * Delete what belongs to `owner`: everything labelled with it (when its id is a label value) and
   * the expected names when read back as its own. Pods already terminating are not deleted again.
   * A delete whose answer is lost is followed by a read, never by a grace-0 delete.
   */
  deleteOwned(namespace: string, owner: Owner, names: ExpectedNames, podGraceSeconds: number): Promise<OwnedDeletion>;
  /**
   * deleteOwned for many owners of one namespace (one result per target, in order): one labelled
   * listing per kind for up to 50 owners, then per target only the reads and deletes it needs.
   */
  deleteOwnedMany(
    namespace: string,
    targets: OwnedTarget[],
    podGraceSeconds: number,
    concurrency: number,
  ): Promise<OwnedDeletion[]>;
  /** What of the owner's still exists, as "kind/name". Throws if it cannot tell. */
  listOwned(namespace: string, owner: Owner, names: ExpectedNames): Promise<string[]>;
  /** listOwned for many owners of one namespace; an Error where it cannot tell (a failed listing). */
  listOwnedMany(namespace: string, targets: OwnedTarget[]): Promise<Array<string[] | Error>>;
  /**
   * Read each pod under its name and say whose it is; an Error where that is unknown. The
   * namespace is read once, and only when some pod answered 404.
   */
  podsEvidence(
    namespace: string,
    pods: Array<{ name: string; owner: Owner }>,
    concurrency: number,
  ): Promise<Array<PodEvidence | Error>>;
  /** Grace-0 delete of exactly the pod with `uid`; `replaced` when the name now holds another pod. */
  forceDeletePod(namespace: string, name: string, uid: string): Promise<'deleted' | 'absent' | 'replaced'>;
}
