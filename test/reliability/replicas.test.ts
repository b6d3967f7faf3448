/*
 * Replicas: every function runs as independent instances over one database and one simulated
 * cluster for many rounds with a moving clock, half the runs cron ticks and half manual calls, and
 * every event delivered in shuffled order, some twice, each copy to a random replica. At the end
 * every invariant holds on the final state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';
import { checkInvariants } from './invariants.js';
import { printSummary, settings, timeLimitMs } from './settings.js';
import { startWorld } from './world.js';
import type { World } from './world.js';

const db = useTestDatabase();
let world: World;

beforeAll(async () => {
  world = await startWorld(db, {
    replicas: settings.replicas,
    seed: settings.seed,
    units: settings.units,
    rounds: settings.rounds,
  });
});
afterAll(() => world?.close());

describe(`replicas (seed ${settings.seed})`, () => {
  it(
    `${settings.replicas} replicas of all six functions converge with nothing done twice and nothing lost`,
    async () => {
      for (let round = 1; round <= settings.rounds; round++) await world.round(round);
      await world.settle();
      const violations = await checkInvariants(db.pool, world.sim, world.fleet, world.bus.published);
      printSummary('replicas', {
        seed: settings.seed,
        rounds: settings.rounds,
        replicas: settings.replicas,
        'reservations, labs': `${world.fleet.reservations.length}, ${world.fleet.labs.length}`,
        'function answers by status': Object.fromEntries(world.answers),
        'events published': world.bus.stats.published,
        'deliveries (dup, retried)': `${world.bus.stats.delivered} (${world.bus.stats.duplicated}, ${world.bus.stats.redelivered})`,
        'invariant violations': violations.length,
      });
      expect(world.bus.stats.rejected).toEqual([]);
      expect(violations).toEqual([]);
      expect(world.bus.stats.duplicated).toBeGreaterThan(0);
    },
    timeLimitMs(120_000),
  );

  it('the invariants notice a released live disk, a second end event and a live pod deleted', async () => {
    const live = world.fleet.reservations.find((r) => r.role === 'live')!;
    const ended = world.fleet.reservations.find((r) => r.role === 'expiring')!;
    const first = world.bus.published.find((e) => e.subject === ended.id && e.type.endsWith('reservation.expired'))!;
    await db.pool.query('update disks set in_use = false, reservation_id = null where reservation_id = $1', [live.id]);
    world.sim.kube.deleteBehindOurBack({ namespace: 'gpu-dev', name: live.podName! });
    const violations = await checkInvariants(db.pool, world.sim, world.fleet, [
      ...world.bus.published,
      { ...first, id: 'second' },
    ]);
    expect(violations).toEqual(
      expect.arrayContaining([
        expect.stringContaining(`disk ${live.diskName} of live reservation ${live.id}`),
        expect.stringContaining(`reservation ${ended.id} (expiring): 2 end events`),
        `live reservation ${live.id}: pod deleted`,
      ]),
    );
  });
});
