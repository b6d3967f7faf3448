import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/index.js';
import { schedulesFromStack } from '../../local/schedules.js';

describe('stack.yml', () => {
  const schedules = schedulesFromStack(readFileSync('stack.yml', 'utf8'));

  it('schedules every function with its default from the specification', () => {
    expect(Object.fromEntries(schedules.map((s) => [s.fn, s.cron]))).toEqual({
      warn: '* * * * *',
      expire: '* * * * *',
      'cleanup-pod': '*/5 * * * *',
      'snapshot-sync': '*/5 * * * *',
      'oom-scan': '*/5 * * * *',
      'ending-watchdog': '*/10 * * * *',
    });
  });

  it('lists exactly the functions the product has', () => {
    expect(schedules.map((s) => s.fn).sort()).toEqual(allFunctions.map((fn) => fn.name).sort());
  });
});
