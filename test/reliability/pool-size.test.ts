/*
 * A scheduled run holds its single-flight lock on one connection for the whole run and does its
 * work on others, so the smallest pool the configuration accepts must still let it finish
 * (with one connection, the run waited for itself until the connection timeout and failed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expire } from '../../functions/expire/handler.js';
import { ManualClock } from '../../shared/clock.js';
import { loadConfig } from '../../shared/config.js';
import { makeDeps } from '../../shared/deps.js';
import type { Deps } from '../../shared/deps.js';
import { startSim } from '../../sim/server.js';
import type { Sim } from '../../sim/server.js';
import { useTestDatabase } from '../support/database.js';
import { insertReservation } from '../support/fixtures.js';
import { replicaEnv, silentLog } from './world.js';

const db = useTestDatabase();
let sim: Sim;
let deps: Deps;

function smallestPoolAccepted(env: Record<string, string>): number {
  for (let size = 1; size <= 10; size++) {
    try {
      loadConfig({ ...env, DB_POOL_MAX: String(size) });
      return size;
    } catch {
      continue;
    }
  }
  throw new Error('no pool size accepted');
}

beforeAll(async () => {
  const clock = new ManualClock('2026-06-01T12:00:00Z');
  sim = await startSim({ clock });
  const env = replicaEnv(db, sim, 'http://127.0.0.1:9', { EVENT_DELIVERY: 'none', KUBE_REQUEST_TIMEOUT_MS: '2000' });
  const config = loadConfig({ ...env, DB_POOL_MAX: String(smallestPoolAccepted(env)) });
  deps = makeDeps(config, { clock, log: silentLog });
  await insertReservation(db.pool, { expires_at: new Date('2026-06-01T11:00:00Z'), pod_name: null });
});
afterAll(async () => {
  await deps?.close();
  await sim?.close();
});

describe('the smallest accepted pool', () => {
  it('lets a scheduled run finish its work', async () => {
    const result = await expire.handle(
      { kind: 'schedule', source: 'cron-connector', callId: 'tick-1', options: { dryRun: false } },
      deps,
    );
    expect(result).toMatchObject({ outcome: 'succeeded', summary: { expired: 1 } });
  });
});
