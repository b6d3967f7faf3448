/*
 * Faults: the same replicas and fleet, while the simulator injects Kubernetes 5xx, 429s, resets,
 * timeouts and dropped watch streams, EC2 throttling and Lambda 429s at rates rising from 5% to
 * 50%, the event plane refuses publications, and PostgreSQL sessions are terminated mid-run. No
 * live environment may be touched at any point; after the faults stop and a few clean rounds run,
 * every invariant holds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';
import { awsFaultsFired, clearFaults, installFaults, rateOf, terminateFunctionSessions } from './fault-plan.js';
import { checkInvariants, falseTeardowns } from './invariants.js';
import { printSummary, settings, timeLimitMs } from './settings.js';
import { startWorld } from './world.js';
import type { World } from './world.js';

const TIMEOUT_MS = 400;
const db = useTestDatabase();
let world: World;

beforeAll(async () => {
  world = await startWorld(db, {
    replicas: settings.replicas,
    seed: settings.seed,
    units: settings.units,
    rounds: settings.rounds,
    podWatch: true,
    env: {
      KUBE_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
      AWS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
      EXEC_TIMEOUT_SECONDS: '2',
    },
  });
});
afterAll(() => world?.close());

describe(`faults (seed ${settings.seed})`, () => {
  it(
    'no fault tears down a live environment, and the invariants hold once the faults stop',
    async () => {
      const duringFaults: string[] = [];
      let terminated = 0;
      let watchesCut = 0;
      for (let round = 1; round <= settings.rounds; round++) {
        installFaults(world.sim, world.bus, rateOf(round, settings.rounds), TIMEOUT_MS, world.random);
        const rate = rateOf(round, settings.rounds);
        const during = async () => {
          await sleep(Math.floor(world.random() * 40));
          if (world.random() < rate) watchesCut += world.sim.kube.dropWatches();
          if (round % 3 === 0) terminated += await terminateFunctionSessions(db.pool, db.name);
        };
        await world.round(round, { during });
        duringFaults.push(
          ...(await falseTeardowns(db.pool, world.sim, world.fleet)).map((v) => `round ${round}: ${v}`),
        );
      }
      clearFaults(world.sim, world.bus);
      await world.settle();
      const violations = await checkInvariants(db.pool, world.sim, world.fleet, world.bus.published);
      printSummary('faults', {
        seed: settings.seed,
        rounds: `${settings.rounds} with faults (5% to 50%) + 10 clean`,
        replicas: settings.replicas,
        'faults injected by kind': {
          ...world.sim.faults.fired(),
          ...awsFaultsFired(world.sim),
          'event-publish-refused': world.bus.stats.refusedByBus,
          'pg-sessions-terminated': terminated,
          'watch-streams-cut': watchesCut,
        },
        'function answers by status': Object.fromEntries(world.answers),
        'false teardowns': duringFaults.length,
        'invariant violations': violations.length,
      });
      expect(duringFaults).toEqual([]);
      expect(world.bus.stats.rejected).toEqual([]);
      expect(violations).toEqual([]);
      expect(terminated).toBeGreaterThan(0);
      expect(watchesCut).toBeGreaterThan(0);
      expect(Object.keys(world.sim.faults.fired())).toEqual(
        expect.arrayContaining(['http-503', 'reset', 'RequestLimitExceeded']),
      );
    },
    timeLimitMs(180_000),
  );
});
