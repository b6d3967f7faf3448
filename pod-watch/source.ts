/*
 * The pod-watch source: one resuming watch per namespace (shared/kube/watch.ts: list, watch from
 * the list's version, resume after a dropped stream, list again after 410 Gone, nothing missed and
 * nothing repeated), only pods labelled as reservations, each change turned into the
 * ApiServerSource-shaped event and queued for delivery to its consumers through the gateway.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import type { Clock } from '../shared/clock.js';
import type { Kube, PodEvent } from '../shared/kube/index.js';
import type { Logger } from '../shared/log.js';
import { podChangeEvent } from './change.js';
import type { PodChangeEvent, PodJson } from './change.js';
import { emitToConsumers } from './emit.js';
import type { EmitOptions } from './emit.js';
import type { PodWatchMetrics } from './metrics.js';
import { DeliveryQueue } from './queue.js';

const POD_WATCH_SOURCE = '/devenv-lifecycle/pod-watch';

export interface SourceDeps {
  kube: Pick<Kube, 'watchPods'>;
  clock: Clock;
  log: Logger;
  metrics: PodWatchMetrics;
}

export interface SourceOptions extends EmitOptions {
  namespaces: string[];
  reservationLabel: string;
  queueLimit: number;
  concurrency: number;
}

export interface PodWatchSource {
  /** True once every namespace has been listed. */
  ready(): boolean;
  /** Events waiting or in delivery. */
  depth(): number;
  /** Rejects when a watch gives up for good (no permission, bad selector): restarting cannot help. */
  done: Promise<void>;
  /** Stops watching, then waits up to `drainMs` for queued events to be delivered. */
  stop(drainMs: number): Promise<void>;
}

export function startPodWatchSource(deps: SourceDeps, options: SourceOptions): PodWatchSource {
  const { log, metrics } = deps;
  const queue = new DeliveryQueue<PodChangeEvent>({
    limit: options.queueLimit,
    concurrency: options.concurrency,
    send: (event) => send(deps, options, event),
    onDropped: (event) => {
      metrics.dropped.inc();
      log.warn({ eventId: event.id, subject: event.subject }, 'delivery queue full: dropped the oldest event');
    },
  });
  const abort = new AbortController();
  const listed = new Set<string>();
  const onEvent = ({ type, pod, previous }: PodEvent) => {
    const policy = { reservationLabel: options.reservationLabel, source: POD_WATCH_SOURCE };
    const event = podChangeEvent(type, toJson(pod), policy, deps.clock.now(), previous && toJson(previous));
    metrics.changes.inc({ change: type, emitted: String(event !== undefined) });
    if (!event) return;
    queue.push(event);
  };
  const watches = options.namespaces.map((namespace) =>
    deps.kube.watchPods({
      namespace,
      labelSelector: options.reservationLabel,
      onEvent,
      onError: (err) => {
        metrics.watchErrors.inc({ namespace });
        log.warn({ err, namespace }, 'pod watch interrupted; resuming');
      },
      onListed: () => {
        listed.add(namespace);
        metrics.lists.inc({ namespace });
      },
      signal: abort.signal,
    }),
  );
  const done = Promise.all(watches).then(() => undefined);
  done.catch(() => abort.abort()); // one namespace failing for good stops the others; the process restarts
  return {
    ready: () => listed.size === options.namespaces.length,
    depth: () => queue.depth,
    done,
    stop: async (drainMs) => {
      abort.abort();
      await done.catch(() => undefined);
      if (!(await queue.drain(drainMs))) log.warn({ pending: queue.depth }, 'stopped with events not yet delivered');
    },
  };
}

async function send(deps: SourceDeps, options: EmitOptions, event: PodChangeEvent): Promise<void> {
  const outcomes = await emitToConsumers(event, options);
  for (const outcome of outcomes) {
    deps.metrics.deliveries.inc({
      consumer: outcome.consumer,
      outcome: outcome.error === undefined ? 'delivered' : 'failed',
    });
    if (outcome.attempts > 1) deps.metrics.deliveryRetries.inc({ consumer: outcome.consumer }, outcome.attempts - 1);
    if (outcome.error !== undefined) {
      deps.log.warn(
        { eventId: event.id, subject: event.subject, consumer: outcome.consumer, error: outcome.error },
        'event not delivered; the scheduled scan will catch up',
      );
    }
  }
}

/** The watch hands over V1Pod (dates as Date); the event carries the API's JSON. */
function toJson(pod: V1Pod): PodJson {
  return ObjectSerializer.serialize(pod, 'V1Pod', '') as PodJson;
}
