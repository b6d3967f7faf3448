/*
 * Sizes of the reliability runs. `npm test` uses small ones (the whole suite adds well under a
 * minute on 2 cores); longer runs set the variables, e.g.
 * RELIABILITY_ROUNDS=200 RELIABILITY_UNITS=4 RELIABILITY_SEED=7 npx vitest run test/reliability
 * (RELIABILITY_REPLICAS, _HOSTILE_RUNS per function, _CRASHES, _CRASH_ROUNDS, _LOAD_REQUESTS likewise).
 * Every test prints its seed, so a failure can be replayed with RELIABILITY_SEED.
 */
function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number, got ${raw}`);
  return value;
}

export const settings = {
  rounds: positive('RELIABILITY_ROUNDS', 24),
  units: positive('RELIABILITY_UNITS', 2),
  replicas: positive('RELIABILITY_REPLICAS', 4),
  seed: positive('RELIABILITY_SEED', Math.floor(Math.random() * 1_000_000) + 1),
  hostileRuns: positive('RELIABILITY_HOSTILE_RUNS', 100),
  crashes: positive('RELIABILITY_CRASHES', 5),
  crashRounds: positive('RELIABILITY_CRASH_ROUNDS', 16),
  loadRequests: positive('RELIABILITY_LOAD_REQUESTS', 400),
};

/**
 * How much slower than on an idle machine a run may be before its limit cuts it: the suite runs on
 * 2 cores shared at load averages around 20, where the crash and replica runs took 3-4 times as
 * long as at load 4. A limit only bounds a hung test; what a test proves is its final state.
 */
const LOADED_MACHINE = 5;

/** A test's time limit: `baseMs` on an idle machine, grown with the run's size and for a loaded machine. */
export function timeLimitMs(baseMs: number): number {
  const size = Math.max(
    1,
    (settings.rounds / 24) * (settings.units / 2),
    settings.hostileRuns / 100,
    settings.crashes / 5,
  );
  return Math.ceil(baseMs * size * LOADED_MACHINE);
}

/** One block per test file, printed at its end; figures only, so runs can be compared. */
export function printSummary(title: string, figures: Record<string, unknown>): void {
  const lines = Object.entries(figures).map(
    ([name, value]) => `  ${name.padEnd(28)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
  );
  console.log(`reliability summary: ${title}\n${lines.join('\n')}`);
}
