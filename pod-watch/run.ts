/*
 * pod-watch assembled from its configuration: the Kubernetes client, the source, and the health
 * server (in the gauges-only mode, the health server with the fleet gauges and nothing watched). main.ts runs it as a process; the local stack runs the same thing inside itself.
 */
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { createPool } from '../shared/db/pool.js';
import { createKube } from '../shared/kube/index.js';
import { createLogger } from '../shared/log.js';
import type { Logger } from '../shared/log.js';
import type { PodWatchConfig } from './config.js';
import { createFleetCollector } from './fleet.js';
import { createFleetMetrics } from './fleet-metrics.js';
import { startHealthServer } from './health.js';
import type { HealthServer } from './health.js';
import { createPodWatchMetrics } from './metrics.js';
import type { PodWatchMetrics } from './metrics.js';
import { startPodWatchSource } from './source.js';
import type { PodWatchSource } from './source.js';

export interface PodWatchOverrides {
  clock?: Clock;
  log?: Logger;
  /** Where the health server listens; all interfaces (in a pod) when absent. */
  host?: string;
}

export interface PodWatch {
  source: PodWatchSource;
  health: HealthServer;
  metrics: PodWatchMetrics;
  /** Stops watching, delivers what is queued (up to `drainMs`), closes the health server. */
  stop(drainMs: number): Promise<void>;
}

export async function startPodWatch(config: PodWatchConfig, overrides: PodWatchOverrides = {}): Promise<PodWatch> {
  const log = (overrides.log ?? createLogger({ level: config.logLevel, hashSalt: config.logHashSalt })).child({
    component: 'pod-watch',
  });
  const metrics = createPodWatchMetrics();
  const source =
    config.mode === 'gauges'
      ? noSource()
      : startPodWatchSource(
          { kube: createKube(config.kube), clock: overrides.clock ?? systemClock, log, metrics },
          {
            namespaces: config.namespaces,
            reservationLabel: config.reservationLabel,
            gatewayUrl: config.gatewayUrl,
            retry: config.retry,
            queueLimit: config.queueLimit,
            concurrency: config.concurrency,
          },
        );
  let failed = false;
  source.done.catch((err: unknown) => {
    failed = true;
    log.error({ err }, 'pod watch stopped for good');
  });
  const clock = overrides.clock ?? systemClock;
  const db = config.database && createPool(config.database);
  const fleet =
    db && createFleetCollector({ db, clock, log }, config.fleetPolicy, createFleetMetrics(metrics.registry));
  const health = await startHealthServer(
    config.port,
    overrides.host ?? '0.0.0.0',
    { alive: () => !failed, ready: source.ready, depth: source.depth },
    metrics,
    { db, fleet, log },
  );
  // The origin only: a gateway URL may carry credentials.
  let stopping: Promise<void> | undefined;
  if (config.mode === 'gauges') log.info({ health: health.url }, 'fleet gauges exporter started (no pod watch)');
  else
    log.info(
      {
        namespaces: config.namespaces,
        gateway: new URL(config.gatewayUrl).origin,
        health: health.url,
        fleetGauges: db !== undefined,
      },
      'pod watch started',
    );
  return {
    source,
    health,
    metrics,
    // Idempotent: the local stack stops it on the way out even when a test already did.
    stop: (drainMs) =>
      (stopping ??= (async () => {
        await source.stop(drainMs);
        await health.close();
        await db?.end();
      })()),
  };
}

/** The gauges-only mode (Knative): nothing is watched, so it is ready at once and never gives up. */
function noSource(): PodWatchSource {
  return { ready: () => true, depth: () => 0, done: new Promise<void>(() => undefined), stop: async () => undefined };
}
