/* The services of a run (runScoped) for tests that deliver to a Knative sink of their own. */
import { Writable } from 'node:stream';
import type pg from 'pg';
import type { Clock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import type { RunServices } from '../../shared/runtime/run-scope.js';

export function sinkRunServices(
  pool: pg.Pool,
  clock: Clock,
  sinkUrl: string,
  settings: Pick<RunServices, 'budgetSeconds' | 'deliveryTimeoutMs'>,
): RunServices {
  return {
    pool,
    clock,
    log: createLogger({ level: 'silent', hashSalt: 's', destination: new Writable({ write: (_c, _e, d) => d() }) }),
    metrics: createMetrics(),
    publish: { mode: 'knative', sinkUrl },
    paused: false,
    defaultMaxItems: 50,
    concurrency: 4,
    ...settings,
  };
}
