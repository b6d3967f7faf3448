/*
 * Collects the fleet gauges from the database when Prometheus scrapes: one statement for the
 * gauges, one for the warnings sent since the last collection. Scrapes that arrive together share
 * one collection; a failed one hides the gauges (fleet-metrics.ts) and never fails the scrape.
 */
import type { Clock } from '../shared/clock.js';
import type { Db } from '../shared/db/pool.js';
import { readFleet } from '../shared/db/queries/fleet.js';
import type { FleetPolicy } from '../shared/db/queries/fleet.js';
import type { Logger } from '../shared/log.js';
import { FUNCTION_NAMES } from '../shared/runtime/invocation.js';
import { hideFleet, showFleet } from './fleet-metrics.js';
import type { FleetMetrics } from './fleet-metrics.js';
import { WarningLateness } from './lateness.js';

export interface FleetCollector {
  collect(): Promise<void>;
}

export interface FleetDeps {
  db: Db;
  clock: Clock;
  log: Logger;
}

export function createFleetCollector(deps: FleetDeps, policy: FleetPolicy, metrics: FleetMetrics): FleetCollector {
  const lateness = new WarningLateness((w) =>
    metrics.warningLateness.observe({ level: String(w.levelMinutes) }, w.latenessSeconds),
  );
  let running: Promise<void> | undefined;
  const once = async () => {
    try {
      const reading = await readFleet(deps.db, deps.clock.now(), policy, FUNCTION_NAMES);
      await lateness.collect(deps.db);
      showFleet(metrics, reading, FUNCTION_NAMES);
    } catch (err) {
      hideFleet(metrics);
      deps.log.warn({ err }, 'fleet gauges: the database could not be read');
    }
  };
  return {
    collect: () => {
      running ??= once().finally(() => (running = undefined));
      return running;
    },
  };
}
