/*
 * A test file's world (world.ts): started in beforeAll on this file's own database copy, closed in
 * afterAll. The returned object is filled in when beforeAll has run, so read its members inside
 * tests and hooks; the clock is there from the start.
 */
import { afterAll, beforeAll } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { useTestDatabase } from './database.js';
import type { TestDatabaseOptions } from './database.js';
import { startWorld, WORLD_START } from './world.js';
import type { World, WorldOptions } from './world.js';

export function useWorld(options: WorldOptions & { database?: TestDatabaseOptions } = {}): World {
  const db = useTestDatabase(options.database);
  const clock = options.clock ?? new ManualClock(WORLD_START);
  const world = { clock } as World;
  beforeAll(async () => {
    Object.assign(world, await startWorld(db, { ...options, clock }));
  });
  afterAll(async () => {
    await world.close?.();
  });
  return world;
}
