/*
 * The fleet gauges, read from the database on each scrape (fleet.ts) and registered beside
 * pod-watch's own metrics. Every known status and step is set, to 0 when there is none, so an
 * alert compares numbers instead of missing series; an age is 0 when nothing is waiting.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { LIVE_STATUSES, TEARDOWN_STEPS, WAITING_STATUSES } from '../shared/db/queries/fleet.js';
import type { FleetReading } from '../shared/db/queries/fleet.js';

const PREFIX = 'devenv_lifecycle_fleet_';

/** Seconds late a warning can be; the last bucket is "more than half an hour". */
export const LATENESS_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1800];

export function createFleetMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name: `${PREFIX}${name}`, help, labelNames, registers });
  return {
    up: gauge(
      'up',
      '1 when the last collection read the database, 0 when it failed (the other fleet gauges are then absent)',
    ),
    reservations: gauge('reservations', 'Reservations not yet ended, by status', ['status']),
    overdueActive: gauge(
      'overdue_active',
      'Active reservations past their deadline and the grace period: expire should have ended them',
    ),
    overdueOldest: gauge('overdue_oldest_seconds', 'How long past its deadline the most overdue active reservation is'),
    stuck: gauge(
      'stuck',
      'Reservations waiting in a status longer than allowed (PREPARING_TIMEOUT_MINUTES, QUEUE_TIMEOUT_HOURS) and labs ENDING longer than WATCHDOG_OLDER_THAN_MINUTES',
      ['entity', 'status'],
    ),
    waitingOldest: gauge(
      'waiting_oldest_seconds',
      'Time in its status of the oldest reservation queued, pending or preparing, and of the oldest lab ENDING',
      ['entity', 'status'],
    ),
    teardowns: gauge('teardowns_in_progress', 'Reservation teardowns not done, by the step they are at', ['step']),
    teardownOldest: gauge('teardown_oldest_seconds', 'Age of the oldest unfinished teardown'),
    snapshotsPending: gauge('snapshots_pending', 'Snapshots requested or pending in EC2'),
    snapshotOldest: gauge('snapshot_pending_oldest_seconds', 'Age of the oldest requested or pending snapshot'),
    outboxBacklog: gauge('outbox_backlog', 'Events waiting to be delivered (dead letters excluded)'),
    outboxOldest: gauge('outbox_oldest_seconds', 'Age of the oldest event waiting to be delivered'),
    outboxDead: gauge('outbox_dead_letters', 'Events in the dead-letter state, waiting for an operator'),
    lastSuccess: gauge(
      'last_success_timestamp_seconds',
      'When the newest succeeded run of each function finished (0: never)',
      ['function'],
    ),
    halted: gauge('halted_runs', 'Runs that ended halted in the last 24 hours', ['function']),
    warningLateness: new Histogram({
      name: `${PREFIX}warning_lateness_seconds`,
      help: 'Sent time minus the level time of each warning sent (counted once, when pod-watch first sees it)',
      labelNames: ['level'],
      buckets: LATENESS_BUCKETS,
      registers,
    }),
    collectErrors: new Counter({
      name: `${PREFIX}collect_errors_total`,
      help: 'Collections that could not read the database',
      registers,
    }),
  };
}

export type FleetMetrics = ReturnType<typeof createFleetMetrics>;

const GAUGES = [
  'reservations',
  'overdueActive',
  'overdueOldest',
  'stuck',
  'waitingOldest',
  'teardowns',
  'teardownOldest',
  'snapshotsPending',
  'snapshotOldest',
  'outboxBacklog',
  'outboxOldest',
  'outboxDead',
  'lastSuccess',
  'halted',
] as const;

export function showFleet(m: FleetMetrics, r: FleetReading, functions: readonly string[]): void {
  for (const status of LIVE_STATUSES) m.reservations.set({ status }, r.reservations[status] ?? 0);
  m.overdueActive.set(r.overdueActive);
  m.overdueOldest.set(r.overdueOldestSeconds ?? 0);
  const waiting = [
    ...WAITING_STATUSES.map((status) => ({ entity: 'reservation', status })),
    { entity: 'lab', status: 'ending' },
  ];
  for (const labels of waiting) {
    const group = r.waiting.find((w) => w.entity === labels.entity && w.status === labels.status);
    m.stuck.set(labels, group?.stuck ?? 0);
    m.waitingOldest.set(labels, group?.oldestSeconds ?? 0);
  }
  for (const step of TEARDOWN_STEPS) m.teardowns.set({ step }, r.teardowns[step] ?? 0);
  m.teardownOldest.set(r.teardownOldestSeconds ?? 0);
  m.snapshotsPending.set(r.snapshotsPending);
  m.snapshotOldest.set(r.snapshotPendingOldestSeconds ?? 0);
  m.outboxBacklog.set(r.outboxBacklog);
  m.outboxOldest.set(r.outboxOldestSeconds ?? 0);
  m.outboxDead.set(r.outboxDead);
  for (const fn of functions) {
    m.lastSuccess.set({ function: fn }, (r.lastSuccess[fn]?.getTime() ?? 0) / 1000);
    m.halted.set({ function: fn }, r.halted[fn] ?? 0);
  }
  m.up.set(1);
}

/** A failed read leaves no stale numbers behind: the gauges go absent and `up` says why. */
export function hideFleet(m: FleetMetrics): void {
  for (const name of GAUGES) m[name].reset();
  m.up.set(0);
  m.collectErrors.inc();
}
