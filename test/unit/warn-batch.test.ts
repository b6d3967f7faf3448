import { describe, expect, it } from 'vitest';
import { batchWriter } from '../../functions/warn/batch.js';

describe('warn: fixed-size write batches', () => {
  it('writes ceil(n / size) batches in the order they filled, whatever the timing', async () => {
    for (const gapMs of [0, 1, 3]) {
      const batches: number[][] = [];
      const writer = batchWriter(4, async (items: number[]) => {
        batches.push(items);
        await new Promise((resolve) => setTimeout(resolve, 5));
      });
      const added: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) {
        added.push(writer.add(i));
        if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs * (i % 3)));
      }
      writer.flush();
      await Promise.all(added);
      expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    }
  });

  it('rejects the items of a batch whose write failed, and only those', async () => {
    const writer = batchWriter(2, async (items: number[]) => {
      if (items.includes(-1)) throw new Error('refused');
    });
    const results = await Promise.allSettled([writer.add(1), writer.add(-1), writer.add(3), (writer.flush(), Promise.resolve())]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('writes nothing for an empty flush', async () => {
    let writes = 0;
    const writer = batchWriter(3, async () => void (writes += 1));
    writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(writes).toBe(0);
  });
});
