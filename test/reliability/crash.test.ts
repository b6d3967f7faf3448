/*
 * Crashes: the functions run in a separate process that is SIGKILLed at random checkpoints (before
 * or after an SQL statement, so between a committed state change and its side effect, or between
 * a side effect and its record) and restarted. After clean rounds the system reaches the same
 * final state as the same fleet run without a crash, and every invariant holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../sim/faults.js';
import { useTestDatabase } from '../support/database.js';
import { startCrashable } from './crashable.js';
import type { Crashable, CrashPoint } from './crashable.js';
import { finalState } from './final-state.js';
import { checkInvariants } from './invariants.js';
import { printSummary, settings, timeLimitMs } from './settings.js';
import { replicaEnv, startWorld } from './world.js';
import type { World } from './world.js';

const FUNCTIONS = ['expire', 'warn', 'cleanup-pod', 'snapshot-sync', 'oom-scan', 'ending-watchdog'];
const ROUNDS = settings.crashRounds;
const crashDb = useTestDatabase();
const cleanDb = useTestDatabase();
let crashWorld: World;
let cleanWorld: World;
let crashable: Crashable;

// No fault is injected here, so a call that outlasts its timeout could only be the machine's load,
// and would make the two worlds part: timeouts that only bound a hung test.
const PATIENT = { KUBE_REQUEST_TIMEOUT_MS: '60000', AWS_REQUEST_TIMEOUT_MS: '60000', EXEC_TIMEOUT_SECONDS: '60' };

beforeAll(async () => {
  const options = { replicas: 1, seed: settings.seed, units: 1, rounds: ROUNDS, env: PATIENT };
  [crashWorld, cleanWorld] = await Promise.all([startWorld(crashDb, options), startWorld(cleanDb, options)]);
  crashable = await startCrashable(replicaEnv(crashDb, crashWorld.sim, crashWorld.bus.url, PATIENT), crashDb.pool);
}, 300_000);
// Closing waits for the worlds' pools, which wait for any call still in flight: such a call may
// take up to the PATIENT limits above on a loaded machine, so closing gets two of them and more.
afterAll(async () => {
  await crashable?.close();
  await Promise.all([crashWorld?.close(), cleanWorld?.close()]);
}, 180_000);

/**
 * The functions one after another in the crash process. A run is armed to be killed part-way with
 * a chance that grows as the crashes still owed meet the runs still left, so every run kills
 * about `settings.crashes` processes, spread over the rounds, whatever the seed.
 */
function crashingRuns(crashes: CrashPoint[], random: () => number, round: number) {
  return async () => {
    for (const [index, fn] of FUNCTIONS.entries()) {
      const runsLeft = (ROUNDS - round + 1) * FUNCTIONS.length - index;
      const armed = random() < Math.min(1, (2.5 * (settings.crashes - crashes.length)) / runsLeft);
      const outcome = await crashable.run(
        fn,
        crashWorld.clock.now(),
        armed ? 1 + Math.floor(random() * 12) : undefined,
      );
      if ('killed' in outcome) crashes.push(outcome.killed);
    }
  };
}

function cleanRuns() {
  return async () => {
    const endpoints = cleanWorld.replicas[0]!.endpoints;
    for (const fn of FUNCTIONS)
      await endpoints.get(fn)!({
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/json' },
        rawBody: '{}',
      });
  };
}

describe(`crashes (seed ${settings.seed})`, () => {
  it(
    'a process killed between a state change and its side effect converges to the state of a run without crashes',
    async () => {
      const crashes: CrashPoint[] = [];
      const random = seededRandom(settings.seed);
      for (let round = 1; round <= ROUNDS; round++) {
        await crashWorld.round(round, { duplicateRate: 0.3, invoke: crashingRuns(crashes, random, round) });
        await cleanWorld.round(round, { duplicateRate: 0.3, invoke: cleanRuns() });
      }
      await Promise.all([crashWorld.settle(), cleanWorld.settle()]);
      const violations = await checkInvariants(
        crashDb.pool,
        crashWorld.sim,
        crashWorld.fleet,
        crashWorld.bus.published,
      );
      const [crashed, clean] = await Promise.all([
        finalState(crashDb.pool, crashWorld.sim, crashWorld.bus.published),
        finalState(cleanDb.pool, cleanWorld.sim, cleanWorld.bus.published),
      ]);
      printSummary('crashes', {
        seed: settings.seed,
        rounds: `${ROUNDS} + 10 clean`,
        'processes killed': crashes.length,
        'killed after a statement': crashes.filter((c) => c.when === 'after').length,
        'killed by function': Object.fromEntries(
          FUNCTIONS.map((fn) => [fn, crashes.filter((c) => c.fn === fn).length]),
        ),
        'invariant violations': violations.length,
      });
      expect(crashes.length).toBeGreaterThanOrEqual(Math.min(settings.crashes, 2));
      expect(violations).toEqual([]);
      expect(crashed).toEqual(clean);
    },
    timeLimitMs(180_000),
  );
});
