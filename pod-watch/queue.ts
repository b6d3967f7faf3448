/*
 * The bounded queue between the watch (which must never block) and delivery (which may be slow or
 * failing). At most `concurrency` events are in delivery at once; when `limit` events wait, the
 * oldest is dropped and reported: a newer state of the cluster matters more, and the scheduled
 * scans, not this queue, are the baseline that catches anything lost.
 */
export interface QueueOptions<T> {
  limit: number;
  concurrency: number;
  send(item: T): Promise<void>;
  onDropped(item: T): void;
}

export class DeliveryQueue<T> {
  private readonly waiting: T[] = [];
  private active = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly options: QueueOptions<T>) {}

  push(item: T): void {
    this.waiting.push(item);
    if (this.waiting.length > this.options.limit) this.options.onDropped(this.waiting.shift()!);
    this.pump();
  }

  /** Waiting plus in delivery. */
  get depth(): number {
    return this.waiting.length + this.active;
  }

  /** Resolves true once everything queued was sent, or false when `timeoutMs` passed first. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.depth === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const empty = new Promise<boolean>((resolve) => this.idle.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([empty, late]);
    clearTimeout(timer);
    return drained;
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.waiting.length > 0) {
      const item = this.waiting.shift()!;
      this.active += 1;
      // send() reports its own failures; a rejection here is a bug in it, and must not stop the queue.
      void this.options
        .send(item)
        .catch(() => undefined)
        .finally(() => {
          this.active -= 1;
          this.pump();
          if (this.depth === 0) this.idle.splice(0).forEach((resolve) => resolve());
        });
    }
  }
}
