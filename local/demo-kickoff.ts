/*
 * The demo should not make a newcomer wait for the first schedule: every function runs once at
 * start, and once more after the demo pods' 30 s deletion grace, so the whole teardown chain
 * (pod gone, disk released, shutdown snapshot requested) shows within the first minute. After
 * that only the stack.yml schedules run.
 */
export interface Kickoff {
  stop(): void;
}

const AFTER_POD_GRACE_MS = 40_000;

export function startDemoKickoff(functions: string[], tick: (fn: string) => Promise<void>): Kickoff {
  const runAll = () => {
    for (const fn of functions) void tick(fn);
  };
  runAll();
  const again = setTimeout(runAll, AFTER_POD_GRACE_MS);
  return { stop: () => clearTimeout(again) };
}
