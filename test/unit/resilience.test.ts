import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conflict, Fatal, Invalid, NotFound, Transient } from '../../shared/errors.js';
import type { RetryPolicyOptions } from '../../shared/resilience.js';
import { mapWithConcurrency, withRetries } from '../../shared/resilience.js';

const fast: RetryPolicyOptions = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5, callTimeoutMs: 1_000 };

/** A function that fails with the given errors in turn, then succeeds; counts its calls. */
function scripted<T>(failures: Error[], value: T): { fn: () => Promise<T>; calls: () => number } {
  let calls = 0;
  return {
    fn: async () => {
      const failure = failures[calls++];
      if (failure) throw failure;
      return value;
    },
    calls: () => calls,
  };
}

describe('withRetries', () => {
  it('retries a Transient failure and returns the eventual result', async () => {
    const call = scripted([new Transient('throttled'), new Transient('throttled')], 'ok');
    await expect(withRetries(call.fn, fast)).resolves.toBe('ok');
    expect(call.calls()).toBe(3);
  });

  it('gives up after maxAttempts and rethrows the last Transient', async () => {
    const last = new Transient('still down');
    const call = scripted([new Transient('down'), new Transient('down'), last, new Transient('unreached')], 'ok');
    await expect(withRetries(call.fn, fast)).rejects.toBe(last);
    expect(call.calls()).toBe(3);
  });

  it.each([
    ['NotFound', new NotFound('gone')],
    ['Conflict', new Conflict('changed')],
    ['Invalid', new Invalid('bad input')],
    ['Fatal', new Fatal('misconfigured')],
    ['a plain Error', new Error('defect')],
  ])('never retries %s', async (_name, error) => {
    const call = scripted([error], 'ok');
    await expect(withRetries(call.fn, fast)).rejects.toBe(error);
    expect(call.calls()).toBe(1);
  });

  it('turns an attempt that outlives callTimeoutMs into a Transient, aborting its signal', async () => {
    const signals: AbortSignal[] = [];
    const hang = (signal: AbortSignal) => {
      signals.push(signal);
      return new Promise<never>(() => undefined);
    };
    const error = await withRetries(hang, { ...fast, maxAttempts: 2, callTimeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Transient);
    expect((error as Error).message).toContain('timed out after 20 ms');
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('waits at least retryAfterMs before the next attempt', async () => {
    const startedAt: number[] = [];
    const fn = async () => {
      startedAt.push(performance.now());
      if (startedAt.length === 1) throw new Transient('slow down', 60);
      return 'ok';
    };
    await expect(withRetries(fn, { ...fast, maxDelayMs: 100 })).resolves.toBe('ok');
    expect(startedAt[1]! - startedAt[0]!).toBeGreaterThanOrEqual(55);
  });

  it('does not retry when the server asks for a pause longer than maxDelayMs', async () => {
    const call = scripted([new Transient('come back in a minute', 60_000)], 'ok');
    await expect(withRetries(call.fn, fast)).rejects.toBeInstanceOf(Transient);
    expect(call.calls()).toBe(1);
  });

  it('rejects nonsensical options before calling anything', async () => {
    const call = scripted([], 'ok');
    await expect(withRetries(call.fn, { ...fast, maxAttempts: 0 })).rejects.toThrow(/maxAttempts/);
    await expect(withRetries(call.fn, { ...fast, callTimeoutMs: 0 })).rejects.toThrow(/callTimeoutMs/);
    await expect(withRetries(call.fn, { ...fast, maxDelayMs: Number.NaN })).rejects.toThrow(/maxDelayMs/);
    expect(call.calls()).toBe(0);
  });
});

describe('mapWithConcurrency', () => {
  it('never runs more than `limit` calls at once and keeps input order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        async (delays, limit) => {
          let active = 0;
          let peak = 0;
          const results = await mapWithConcurrency(delays, limit, async (delayMs, index) => {
            peak = Math.max(peak, ++active);
            await sleep(delayMs);
            active--;
            return index;
          });
          expect(peak).toBeLessThanOrEqual(limit);
          expect(results.map((r) => (r.status === 'fulfilled' ? r.value : -1))).toEqual(delays.map((_d, i) => i));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('uses the whole limit when there is enough work', async () => {
    let active = 0;
    let peak = 0;
    await mapWithConcurrency([...Array(12).keys()], 4, async () => {
      peak = Math.max(peak, ++active);
      await sleep(5);
      active--;
    });
    expect(peak).toBe(4);
  });

  it('lets the other items finish when one fails', async () => {
    const boom = new Transient('boom');
    const finished: number[] = [];
    const results = await mapWithConcurrency([1, 2, 3, 4], 2, async (n) => {
      if (n === 1) throw boom;
      await sleep(2);
      finished.push(n);
      return n * 10;
    });
    expect(results).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'fulfilled', value: 20 },
      { status: 'fulfilled', value: 30 },
      { status: 'fulfilled', value: 40 },
    ]);
    expect(finished.sort()).toEqual([2, 3, 4]);
  });

  it('rejects a limit below 1', async () => {
    await expect(mapWithConcurrency([1], 0, async (n) => n)).rejects.toThrow(RangeError);
  });
});
