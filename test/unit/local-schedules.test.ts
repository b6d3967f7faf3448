import { describe, expect, it } from 'vitest';
import { schedulesFromStack } from '../../local/schedules.js';

const stack = (functions: string) => `version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n${functions}`;

describe('schedules from stack.yml', () => {
  it('reads the cron-connector annotations of each function', () => {
    const yaml = stack(
      `  warn:\n    annotations:\n      topic: cron-function\n      schedule: "* * * * *"\n  cleanup-pod:\n    annotations:\n      topic: cron-function\n      schedule: "*/5 * * * *"\n  pod-watch:\n    lang: node22\n`,
    );
    expect(schedulesFromStack(yaml)).toEqual([
      { fn: 'warn', cron: '* * * * *' },
      { fn: 'cleanup-pod', cron: '*/5 * * * *' },
    ]);
  });

  it.each(['*/5 * * *', '* * * * * *', 'every minute', '*/5 * * * *;0 * * * *'])(
    'rejects %j naming the function',
    (schedule) => {
      const yaml = stack(`  warn:\n    annotations:\n      topic: cron-function\n      schedule: "${schedule}"\n`);
      expect(() => schedulesFromStack(yaml)).toThrow(/function warn has an invalid schedule/);
    },
  );

  it('ignores functions without the cron topic', () => {
    expect(schedulesFromStack(stack(`  warn:\n    annotations:\n      schedule: "* * * * *"\n`))).toEqual([]);
  });
});
