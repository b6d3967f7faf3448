/*
 * Indexes over the simulated volumes and snapshots, so a Describe filtered by id, volume id, tag
 * value or tag key costs O(what it matches) instead of a pass over the whole account: with 100,000
 * snapshots, a tag filter with 200 values tested against every snapshot took seconds per call, and
 * a run's calls timed out against the simulator rather than against anything real EC2 does. The
 * indexes are kept true on every write: the resource maps and each resource's tag map update them.
 */
import type { Ec2Filter } from './ec2-params.js';

/** Filter name → value → ids of the resources carrying it. */
export class FieldIndex {
  private readonly byField = new Map<string, Map<string, Set<string>>>();

  add(field: string, value: string, id: string): void {
    let values = this.byField.get(field);
    if (!values) this.byField.set(field, (values = new Map()));
    let ids = values.get(value);
    if (!ids) values.set(value, (ids = new Set()));
    ids.add(id);
  }

  remove(field: string, value: string, id: string): void {
    const values = this.byField.get(field);
    const ids = values?.get(value);
    ids?.delete(id);
    if (ids?.size === 0) values!.delete(value);
  }

  ids(field: string, value: string): ReadonlySet<string> {
    return this.byField.get(field)?.get(value) ?? new Set();
  }
}

/** A resource's tags; every write keeps the index's `tag:<key>` and `tag-key` entries true. */
export class IndexedTags extends Map<string, string> {
  private owner: { index: FieldIndex; id: string } | undefined;

  attach(index: FieldIndex, id: string): void {
    this.owner = { index, id };
    for (const [key, value] of this) this.indexTag(key, value, 'add');
  }

  detach(): void {
    for (const [key, value] of this) this.indexTag(key, value, 'remove');
    this.owner = undefined;
  }

  override set(key: string, value: string): this {
    const old = super.get(key);
    if (old !== undefined) this.indexTag(key, old, 'remove');
    super.set(key, value);
    this.indexTag(key, value, 'add');
    return this;
  }

  override delete(key: string): boolean {
    const old = super.get(key);
    if (old !== undefined) this.indexTag(key, old, 'remove');
    return super.delete(key);
  }

  override clear(): void {
    for (const [key, value] of this) this.indexTag(key, value, 'remove');
    super.clear();
  }

  private indexTag(key: string, value: string, how: 'add' | 'remove'): void {
    // Map's constructor calls set() before this object is attached to any index.
    if (!this.owner) return;
    this.owner.index[how](`tag:${key}`, value, this.owner.id);
    this.owner.index[how]('tag-key', key, this.owner.id);
  }
}

/** Resources by id, with their tags and `fields` (e.g. a snapshot's volume id) indexed. */
export class IndexedResources<R extends { tags: Map<string, string> }> extends Map<string, R> {
  readonly index = new FieldIndex();

  constructor(private readonly fields: (resource: R) => Array<[string, string]>) {
    super();
  }

  override set(id: string, resource: R): this {
    this.unindex(id);
    const tags = resource.tags instanceof IndexedTags ? resource.tags : new IndexedTags(resource.tags);
    resource.tags = tags;
    tags.attach(this.index, id);
    for (const [field, value] of this.fields(resource)) this.index.add(field, value, id);
    return super.set(id, resource);
  }

  override delete(id: string): boolean {
    this.unindex(id);
    return super.delete(id);
  }

  override clear(): void {
    for (const id of [...this.keys()]) this.unindex(id);
    super.clear();
  }

  private unindex(id: string): void {
    const resource = this.get(id);
    if (!resource) return;
    if (resource.tags instanceof IndexedTags) resource.tags.detach();
    for (const [field, value] of this.fields(resource)) this.index.remove(field, value, id);
  }
}

/** The exact value a filter pattern stands for, or undefined when it has a wildcard. */
function exactValue(pattern: string): string | undefined {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' || c === '?') return undefined;
    if (c === '\\' && i + 1 < pattern.length) out += pattern[++i];
    else out += c;
  }
  return out;
}

/**
 * The smallest candidate set any exact filter allows (the full predicate is still applied to it),
 * or every resource when no filter can use an index. `idFilter` names the filter on the map's key.
 */
export function candidates<R extends { tags: Map<string, string> }>(
  resources: IndexedResources<R>,
  filters: Ec2Filter[],
  idFilter: string,
  indexedFields: readonly string[],
): R[] {
  let best: Set<string> | undefined;
  for (const filter of filters) {
    const indexed =
      filter.name === idFilter ||
      filter.name === 'tag-key' ||
      filter.name.startsWith('tag:') ||
      indexedFields.includes(filter.name);
    const values = filter.values.map(exactValue);
    if (!indexed || values.some((value) => value === undefined)) continue;
    const ids = new Set<string>();
    for (const value of values as string[]) {
      if (filter.name === idFilter) {
        if (resources.has(value)) ids.add(value);
      } else {
        for (const id of resources.index.ids(filter.name, value)) ids.add(id);
      }
    }
    if (!best || ids.size < best.size) best = ids;
  }
  return best ? [...best].map((id) => resources.get(id)!) : [...resources.values()];
}
