/*
 * Every object the simulated API server holds, with one global resourceVersion counter (as etcd's
 * revision) and a bounded history of changes that watches replay from. Objects are cloned on the
 * way in and out, so a caller holding one cannot change the server's state behind its back.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { resourceTypeByPlural } from './resources.js';
import { KubeApiError, notFound, statusBody, timestamp } from './status.js';
import { TypeIndex, objectKey as keyOf } from './type-index.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** What a new object needs before the server fills in uid, resourceVersion and creationTimestamp. */
export interface NewObject {
  apiVersion: string;
  kind: string;
  metadata: Partial<ObjectMeta> & { name: string };
  [field: string]: unknown;
}

type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  rv: number;
  type: ChangeType;
  plural: string;
  object: KubeObject;
  /** The state before a MODIFIED, so a watch can tell an object that stopped matching its selector. */
  previous?: KubeObject;
}

export class ObjectStore {
  private version = 0;
  /** Watches from a version below this cannot be served: the changes after it were forgotten. */
  private compactedThrough = 0;
  private history: Change[] = [];
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly indexes = new Map<string, TypeIndex>();
  private readonly listeners = new Set<(change: Change) => void>();

  /** While true (inside `dryRun`), writes are checked and answered but nothing is stored. */
  dryRunning = false;

  constructor(
    private readonly clock: Clock,
    private readonly historyLimit: number,
  ) {}

  /**
   * Runs a write as `dryRun=All` does: every check and the answer as usual, nothing persisted, no
   * resourceVersion spent and no watch event.
   */
  dryRun<T>(write: () => T): T {
    this.dryRunning = true;
    try {
      return write();
    } finally {
      this.dryRunning = false;
    }
  }

  currentVersion(): number {
    return this.version;
  }

  get(plural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.bucket(plural).get(keyOf(namespace, name));
    return found && structuredClone(found);
  }

  /**
   * Objects in key order (`<namespace>/<name>`), as the real server lists them. `keep` filters
   * before copying, so a selective list costs what it returns, not the whole bucket.
   */
  list(plural: string, namespace?: string, keep: (object: KubeObject) => boolean = () => true): KubeObject[] {
    return this.listShared(plural, namespace, keep).map((object) => structuredClone(object));
  }

  /**
   * As `list`, without copies, for a caller that copies only what it keeps. The objects must never
   * be changed.
   */
  listShared(
    plural: string,
    namespace?: string,
    keep: (object: KubeObject) => boolean = () => true,
  ): readonly KubeObject[] {
    return [...this.objectsAfter(plural, namespace, undefined)].filter(keep);
  }

  /**
   * Objects (shared, never to be changed) in key order after `afterKey`, read lazily from the
   * sorted index: a caller that stops after a page has paid for a page.
   */
  *objectsAfter(plural: string, namespace: string | undefined, afterKey: string | undefined): Generator<KubeObject> {
    const bucket = this.bucket(plural);
    for (const key of this.index(plural).keysAfter(namespace, afterKey)) yield bucket.get(key)!;
  }

  /** How many objects (in the namespace, or in all) sort after `afterKey`. */
  countAfter(plural: string, namespace: string | undefined, afterKey: string | undefined): number {
    return this.index(plural).countAfter(namespace, afterKey);
  }

  /** Objects (shared) whose label `key` has one of `values`, in key order: a cost of the matches. */
  withLabel(plural: string, namespace: string | undefined, key: string, values: readonly string[]): KubeObject[] {
    const bucket = this.bucket(plural);
    return this.index(plural)
      .withLabel(key, values)
      .map((found) => bucket.get(found)!)
      .filter((object) => namespace === undefined || object.metadata.namespace === namespace)
      .sort((a, b) =>
        compare(keyOf(a.metadata.namespace, a.metadata.name), keyOf(b.metadata.namespace, b.metadata.name)),
      );
  }

  create(plural: string, input: NewObject): KubeObject {
    const { namespace, name } = input.metadata;
    if (this.bucket(plural).has(keyOf(namespace, name))) {
      const type = resourceTypeByPlural(plural);
      const details = { name, kind: plural, ...(type.group && { group: type.group }) };
      throw new KubeApiError(statusBody(409, `${plural} "${name}" already exists`, 'AlreadyExists', details));
    }
    const metadata: ObjectMeta = {
      ...input.metadata,
      uid: randomUUID(),
      creationTimestamp: timestamp(this.clock.now()),
      resourceVersion: '',
    };
    return this.commit(plural, 'ADDED', { ...input, metadata });
  }

  /** Replaces a stored object; the caller passes the whole new state. */
  update(plural: string, object: KubeObject): KubeObject {
    const previous = this.bucket(plural).get(keyOf(object.metadata.namespace, object.metadata.name));
    if (!previous) throw notFound(plural, object.metadata.name, resourceTypeByPlural(plural).group);
    return this.commit(plural, 'MODIFIED', structuredClone(object), previous);
  }

  remove(plural: string, namespace: string | undefined, name: string): KubeObject {
    const previous = this.bucket(plural).get(keyOf(namespace, name));
    if (!previous) throw notFound(plural, name, resourceTypeByPlural(plural).group);
    return this.commit(plural, 'DELETED', structuredClone(previous));
  }

  /** Changes after `version`, or 'expired' when some of them were already forgotten (a 410). */
  changesSince(version: number): Change[] | 'expired' {
    if (version < this.compactedThrough) return 'expired';
    return this.history.filter((change) => change.rv > version).map((change) => structuredClone(change));
  }

  /** Forgets all history, as an etcd compaction does: older watch versions now get 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedThrough = this.version;
  }

  oldestServableVersion(): number {
    return this.compactedThrough;
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private commit(plural: string, type: ChangeType, object: KubeObject, previous?: KubeObject): KubeObject {
    if (this.dryRunning) {
      // A dry-run create has no resourceVersion yet; an update or delete shows the stored one.
      object.metadata.resourceVersion =
        previous?.metadata.resourceVersion ?? (type === 'DELETED' ? object.metadata.resourceVersion : '');
      return structuredClone(object);
    }
    this.version += 1;
    object.metadata.resourceVersion = String(this.version);
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    const stored = this.bucket(plural).get(key);
    if (type === 'DELETED') {
      this.bucket(plural).delete(key);
      if (stored) this.index(plural).remove(stored);
    } else {
      this.bucket(plural).set(key, object);
      this.index(plural).add(object, stored);
    }
    const change: Change = {
      rv: this.version,
      type,
      plural,
      object: structuredClone(object),
      ...(previous && { previous: structuredClone(previous) }),
    };
    this.remember(change);
    for (const listener of this.listeners) listener(structuredClone(change));
    return structuredClone(object);
  }

  private remember(change: Change): void {
    this.history.push(change);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.shift()!;
      this.compactedThrough = dropped.rv;
    }
  }

  private index(plural: string): TypeIndex {
    let index = this.indexes.get(plural);
    if (!index) {
      index = new TypeIndex();
      this.indexes.set(plural, index);
    }
    return index;
  }

  private bucket(plural: string): Map<string, KubeObject> {
    let bucket = this.objects.get(plural);
    if (!bucket) {
      bucket = new Map();
      this.objects.set(plural, bucket);
    }
    return bucket;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
