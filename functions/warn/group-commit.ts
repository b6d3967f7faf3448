/*
 * Group commit: callers hand in items one at a time; whatever has arrived while the previous write
 * was in flight is written together in the next one. Under load that is one transaction per batch
 * instead of one per item, and an item is still written as soon as the writer is free, so a
 * delivered warning reaches the ledger moments after it happened.
 */
interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Returns `add(item)`, which settles once the batch holding the item was written (or failed). */
export function groupCommit<T>(write: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let queue: Pending<T>[] = [];
  let draining = false;
  async function drain(): Promise<void> {
    draining = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        await write(batch.map((pending) => pending.item));
        for (const pending of batch) pending.resolve();
      } catch (err) {
        for (const pending of batch) pending.reject(err);
      }
    }
    draining = false;
  }
  return (item) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!draining) void drain();
    });
}
