/*
 * A sorted set of strings, as etcd keeps its keys: finding where a continue token left off is a
 * binary search, and reading on from there costs what is read. Inserting or removing moves the
 * array's tail (a memmove of pointers), which stays cheap at the fleet sizes the simulator holds and
 * is nothing when names arrive in order, as a seeded fleet's do.
 */
export class SortedKeys {
  private readonly keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  add(key: string): void {
    const at = this.lowerBound(key);
    if (this.keys[at] !== key) this.keys.splice(at, 0, key);
  }

  delete(key: string): void {
    const at = this.lowerBound(key);
    if (this.keys[at] === key) this.keys.splice(at, 1);
  }

  /** The position of the first key after `key` (of the first key at all, when `key` is undefined). */
  after(key: string | undefined): number {
    if (key === undefined) return 0;
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.keys[mid]! <= key) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  at(position: number): string | undefined {
    return this.keys[position];
  }

  private lowerBound(key: string): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.keys[mid]! < key) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
