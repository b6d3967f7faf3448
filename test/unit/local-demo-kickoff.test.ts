import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDemoKickoff } from '../../local/demo-kickoff.js';

describe('demo kickoff', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs every function at once and again after the pods grace, then never again', () => {
    const ticks: string[] = [];
    startDemoKickoff(['warn', 'cleanup-pod'], async (fn) => void ticks.push(fn));
    expect(ticks).toEqual(['warn', 'cleanup-pod']);
    vi.advanceTimersByTime(39_000);
    expect(ticks).toHaveLength(2);
    vi.advanceTimersByTime(1_000);
    expect(ticks).toEqual(['warn', 'cleanup-pod', 'warn', 'cleanup-pod']);
    vi.advanceTimersByTime(10 * 60_000);
    expect(ticks).toHaveLength(4);
  });

  it('sends nothing more once the stack stops', () => {
    const ticks: string[] = [];
    startDemoKickoff(['expire'], async (fn) => void ticks.push(fn)).stop();
    vi.advanceTimersByTime(60_000);
    expect(ticks).toEqual(['expire']);
  });
});
