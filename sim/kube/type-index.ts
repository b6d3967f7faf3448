/*
 * The keys of one resource type in the order the real server lists them (etcd's key order,
 * `<namespace>/<name>`), kept sorted as objects come and go, plus a map from each label's value to
 * the objects carrying it. A page of a list then costs the page (a binary search to where the
 * continue token left off, then a walk), and a selector naming label values costs its matches, not
 * a filter and sort of the namespace.
 */
import { SortedKeys } from './sorted-keys.js';

interface Indexed {
  metadata: { namespace?: string; name: string; labels?: Record<string, string> };
}

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class TypeIndex {
  /** `<namespace>/` of every namespace holding an object of this type, so they sort as their keys do. */
  private readonly prefixes = new SortedKeys();
  private readonly names = new Map<string, SortedKeys>();
  private readonly labels = new Map<string, Map<string, Set<string>>>();

  add(object: Indexed, previous?: Indexed): void {
    const { namespace = '', name } = object.metadata;
    if (previous) this.unlabel(previous);
    else {
      let names = this.names.get(namespace);
      if (!names) {
        names = new SortedKeys();
        this.names.set(namespace, names);
        this.prefixes.add(`${namespace}/`);
      }
      names.add(name);
    }
    this.label(object);
  }

  remove(object: Indexed): void {
    const { namespace = '', name } = object.metadata;
    this.unlabel(object);
    const names = this.names.get(namespace);
    names?.delete(name);
    if (names?.size === 0) {
      this.names.delete(namespace);
      this.prefixes.delete(`${namespace}/`);
    }
  }

  /** Keys after `afterKey` (from the first, when undefined), in key order, in one namespace or all. */
  *keysAfter(namespace: string | undefined, afterKey: string | undefined): Generator<string> {
    for (const [prefix, names, start] of this.ranges(namespace, afterKey)) {
      for (let at = start; at < names.size; at++) yield prefix + names.at(at)!;
    }
  }

  /** How many keys sort after `afterKey` in the namespace (or in all): the server's remaining count. */
  countAfter(namespace: string | undefined, afterKey: string | undefined): number {
    let count = 0;
    for (const [, names, start] of this.ranges(namespace, afterKey)) count += names.size - start;
    return count;
  }

  /** Keys of the objects whose label `key` has one of `values`, in no order. */
  withLabel(key: string, values: readonly string[]): string[] {
    const byValue = this.labels.get(key);
    return byValue ? values.flatMap((value) => [...(byValue.get(value) ?? [])]) : [];
  }

  /** Each namespace's names from the position after `afterKey`: the namespace holding it, then every later one. */
  private *ranges(
    namespace: string | undefined,
    afterKey: string | undefined,
  ): Generator<[string, SortedKeys, number]> {
    if (namespace !== undefined) {
      const names = this.names.get(namespace);
      if (names) yield [`${namespace}/`, names, startIn(`${namespace}/`, names, afterKey)];
      return;
    }
    // The namespace holding afterKey sorts just before the first prefix after it.
    const first = Math.max(0, this.prefixes.after(afterKey) - 1);
    for (let at = first; at < this.prefixes.size; at++) {
      const prefix = this.prefixes.at(at)!;
      const names = this.names.get(prefix.slice(0, -1))!;
      yield [prefix, names, startIn(prefix, names, afterKey)];
    }
  }

  private label(object: Indexed): void {
    const key = objectKey(object.metadata.namespace, object.metadata.name);
    for (const [label, value] of Object.entries(object.metadata.labels ?? {})) {
      let byValue = this.labels.get(label);
      if (!byValue) {
        byValue = new Map();
        this.labels.set(label, byValue);
      }
      let keys = byValue.get(value);
      if (!keys) {
        keys = new Set();
        byValue.set(value, keys);
      }
      keys.add(key);
    }
  }

  private unlabel(object: Indexed): void {
    const key = objectKey(object.metadata.namespace, object.metadata.name);
    for (const [label, value] of Object.entries(object.metadata.labels ?? {})) {
      const byValue = this.labels.get(label);
      const keys = byValue?.get(value);
      keys?.delete(key);
      if (keys?.size === 0) byValue!.delete(value);
      if (byValue?.size === 0) this.labels.delete(label);
    }
  }
}

/** Where, among one namespace's names, the keys after `afterKey` begin. */
function startIn(prefix: string, names: SortedKeys, afterKey: string | undefined): number {
  if (afterKey === undefined || afterKey < prefix) return 0;
  return afterKey.startsWith(prefix) ? names.after(afterKey.slice(prefix.length)) : names.size;
}
