/*
 * The local stack's cron-connector: read each function's schedule from stack.yml's annotations
 * (`topic: cron-function`, `schedule: "<cron>"`), the same place the real cron-connector reads
 * them, and fire a tick per schedule in UTC.
 */
import { Cron } from 'croner';
import { parse } from 'yaml';
import { Invalid } from '../shared/errors.js';

export interface FunctionSchedule {
  fn: string;
  cron: string;
}

interface StackFunction {
  annotations?: Record<string, unknown>;
}

export function schedulesFromStack(stackYaml: string): FunctionSchedule[] {
  const stack = parse(stackYaml) as { functions?: Record<string, StackFunction> } | null;
  const schedules: FunctionSchedule[] = [];
  for (const [fn, definition] of Object.entries(stack?.functions ?? {})) {
    const annotations = definition.annotations ?? {};
    if (annotations.topic !== 'cron-function') continue;
    const cron = annotations.schedule;
    if (typeof cron !== 'string' || !isValidCron(cron)) {
      throw new Invalid(`stack.yml: function ${fn} has an invalid schedule`, [
        { field: `functions.${fn}.annotations.schedule`, message: 'must be a 5-field cron expression' },
      ]);
    }
    schedules.push({ fn, cron });
  }
  return schedules;
}

function isValidCron(expression: string): boolean {
  // The cron-connector takes exactly five fields (robfig/cron's standard parser).
  if (expression.trim().split(/\s+/).length !== 5) return false;
  try {
    new Cron(expression, { paused: true, timezone: 'UTC' }).stop();
    return true;
  } catch {
    return false;
  }
}

export interface Scheduler {
  stop(): void;
}

export function startSchedules(schedules: FunctionSchedule[], tick: (fn: string) => void): Scheduler {
  const jobs = schedules.map(({ fn, cron }) => new Cron(cron, { timezone: 'UTC', protect: true }, () => tick(fn)));
  return { stop: () => jobs.forEach((job) => job.stop()) };
}
