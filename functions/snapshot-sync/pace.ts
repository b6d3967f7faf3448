/*
 * The run's pace inside a stage's load. The kernel starts no stage and no action once the run's
 * budget is spent (run.pastDeadline), and a load's EC2 reads stop there too, between calls: at
 * 10,000 disks the reads alone could outlast the budget. What a load did not read is left
 * out of what it hands to decide, counted (reads_deferred) and read by a later run; it is never
 * taken to mean that EC2 has nothing.
 */
import { chunks } from '../../shared/chunks.js';
import type { Run } from '../../shared/runtime/run.js';

/** Whether a load may start another EC2 read now. */
export function mayRead(run: Run): boolean {
  return !run.pastDeadline;
}

/** Counts the items a load leaves for a later run because the run's pace stopped its reads. */
export function deferReads(run: Run, items: number): void {
  if (items > 0) run.count('reads_deferred', items);
}

/**
 * `read` for each chunk of `items` in turn (at most `size` a call) while the run's pace lets it;
 * returns the items whose chunk was never read (counted as deferred).
 */
export async function readPaced<T>(
  run: Run,
  items: readonly T[],
  size: number,
  read: (chunk: T[]) => Promise<void>,
): Promise<Set<T>> {
  const unread = new Set<T>();
  for (const chunk of chunks(items, size)) {
    if (unread.size > 0 || !mayRead(run)) chunk.forEach((item) => unread.add(item));
    else await read(chunk);
  }
  deferReads(run, unread.size);
  return unread;
}
