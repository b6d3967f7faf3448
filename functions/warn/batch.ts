/*
 * Fixed-size write batches: items are handed in one at a time as deliveries finish, and every
 * `size` of them are written together in one transaction; `flush` writes the rest. Unlike a group
 * commit that takes whatever arrived while the last write was in flight, the number of writes
 * depends only on the number of items (ceil(n / size)), never on timing, so a run's SQL statement
 * count is the same for the same work. Writes run one after another, in the order batches filled.
 */
interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface BatchWriter<T> {
  /** Settles once the batch holding the item was written (or failed); call `flush` after the last add. */
  add(item: T): Promise<void>;
  flush(): void;
}

export function batchWriter<T>(size: number, write: (items: T[]) => Promise<void>): BatchWriter<T> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size must be an integer >= 1, got ${size}`);
  let filling: Pending<T>[] = [];
  let chain = Promise.resolve();
  const send = () => {
    const batch = filling;
    filling = [];
    if (batch.length === 0) return;
    chain = chain.then(() => write(batch.map((pending) => pending.item))).then(
      () => batch.forEach((pending) => pending.resolve()),
      (err: unknown) => batch.forEach((pending) => pending.reject(err)),
    );
  };
  return {
    add: (item) => new Promise<void>((resolve, reject) => {
      filling.push({ item, resolve, reject });
      if (filling.length >= size) send();
    }),
    flush: send,
  };
}
