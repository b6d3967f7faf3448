/* pod-watch's Prometheus metrics, served at GET /metrics next to the health checks. */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export interface PodWatchMetrics {
  registry: Registry;
  /** change: ADDED | MODIFIED | DELETED; emitted: true when it became an event, false when filtered out. */
  changes: Counter<'change' | 'emitted'>;
  /** outcome: delivered | failed (after every attempt). */
  deliveries: Counter<'consumer' | 'outcome'>;
  deliveryRetries: Counter<'consumer'>;
  /** Events dropped because the queue was full (the scheduled scans catch up). */
  dropped: Counter;
  queueDepth: Gauge;
  /** Watch trouble the source survived (it re-watches or re-lists). */
  watchErrors: Counter<'namespace'>;
  lists: Counter<'namespace'>;
}

const PREFIX = 'devenv_lifecycle_pod_watch_';

export function createPodWatchMetrics(): PodWatchMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    changes: new Counter({
      name: `${PREFIX}changes_total`,
      help: 'Pod changes seen, by kind and whether they were emitted',
      labelNames: ['change', 'emitted'],
      registers,
    }),
    deliveries: new Counter({
      name: `${PREFIX}deliveries_total`,
      help: 'Events handed to a consumer, by outcome',
      labelNames: ['consumer', 'outcome'],
      registers,
    }),
    deliveryRetries: new Counter({
      name: `${PREFIX}delivery_retries_total`,
      help: 'Delivery attempts after the first',
      labelNames: ['consumer'],
      registers,
    }),
    dropped: new Counter({
      name: `${PREFIX}dropped_total`,
      help: 'Events dropped because the delivery queue was full',
      registers,
    }),
    queueDepth: new Gauge({ name: `${PREFIX}queue_depth`, help: 'Events waiting or in delivery', registers }),
    watchErrors: new Counter({
      name: `${PREFIX}watch_errors_total`,
      help: 'Watch interruptions survived',
      labelNames: ['namespace'],
      registers,
    }),
    lists: new Counter({
      name: `${PREFIX}lists_total`,
      help: 'Full lists (start, and after 410 Gone)',
      labelNames: ['namespace'],
      registers,
    }),
  };
}
