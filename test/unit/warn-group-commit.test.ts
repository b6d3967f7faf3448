import { describe, expect, it } from 'vitest';
import { groupCommit } from '../../functions/warn/group-commit.js';

/** A write that stays in flight until released by the test. */
function gatedWriter() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const write = async (items: number[]) => {
    batches.push(items);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await new Promise<void>((resolve) => gates.push(resolve));
    inFlight -= 1;
    if (items.includes(-1)) throw new Error('refused');
  };
  const release = async () => {
    while (gates.length === 0) await Promise.resolve();
    gates.shift()!();
  };
  return { write, batches, release, maxInFlight: () => maxInFlight };
}

describe('warn: group commit of ledger writes', () => {
  it('writes the first item at once and everything that arrived meanwhile in the next write, never two at a time', async () => {
    const writer = gatedWriter();
    const add = groupCommit(writer.write);
    const first = add(1);
    const rest = [add(2), add(3), add(4)];
    await writer.release();
    await first;
    await writer.release();
    await Promise.all(rest);
    expect(writer.batches).toEqual([[1], [2, 3, 4]]);
    expect(writer.maxInFlight()).toBe(1);
  });

  it('rejects only the items of a failed write; later items are written', async () => {
    const writer = gatedWriter();
    const add = groupCommit(writer.write);
    const first = add(1);
    const failing = [add(-1), add(5)];
    await writer.release();
    await first;
    await writer.release();
    const settled = await Promise.allSettled(failing);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    const later = add(6);
    await writer.release();
    await expect(later).resolves.toBeUndefined();
    expect(writer.batches).toEqual([[1], [-1, 5], [6]]);
  });
});
