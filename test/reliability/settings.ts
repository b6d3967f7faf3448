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

/** A test's time limit, grown with the run's size so a long run is not cut short. */
export function timeLimitMs(baseMs: number): number {
  return Math.ceil(baseMs * Math.max(1, (settings.rounds / 24) * (settings.units / 2), settings.hostileRuns / 100, settings.crashes / 5));
}

/** One block per test file, printed at its end; figures only, so runs can be compared. */
export function printSummary(title: string, figures: Record<string, unknown>): void {
  const lines = Object.entries(figures).map(([name, value]) => `  ${name.padEnd(28)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  console.log(`reliability summary: ${title}\n${lines.join('\n')}`);
}
