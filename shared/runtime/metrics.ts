/*
 * Prometheus metrics (SPEC section 8), one Registry per process, served at GET /metrics by both
 * adapters. The runtime records runs and durations; functions record their actions, warnings,
 * OOM kills and snapshots; the outbox sets its backlog and its dead letters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  /** outcome: a RunResult outcome, or `invalid` (400) / `error` (thrown). */
  runs: Counter<'function' | 'trigger' | 'outcome'>;
  runDurationSeconds: Histogram<'function' | 'trigger'>;
  /** kind: the action's name (expire, delete-pod, create-snapshot…); outcome: done | failed | skipped, and for cleanup-pod's steps retry | leftovers | escalated. */
  actions: Counter<'function' | 'kind' | 'outcome'>;
  /** Objects under an entity's expected name that belong to another entity (owner=other) or to none (owner=none): left alone. */
  foreignObjects: Counter<'function' | 'kind' | 'owner'>;
  outboxBacklog: Gauge;
  /** Events dead-lettered (never retried until an operator requeues them), as last counted. */
  outboxDeadLetters: Gauge;
  /** reason: rejected (permanent 4xx) | unencodable | exhausted (out of attempts) | knative (the Broker's dead-letter sink). */
  eventsDeadLettered: Counter<'reason'>;
  warningsSent: Counter<'level'>;
  /** A pod read by name answered 404 in a namespace that does not exist: the read proved nothing. */
  podNamespaceMissing: Counter<'namespace'>;
  oomKills: Counter;
  /** state: the state a snapshot reached (pending, completed, error, deleted). */
  snapshots: Counter<'state'>;
  /** Runs halted by a safety rail (shared/runtime/rails); rail: breaker | clock. */
  railHalts: Counter<'function' | 'rail'>;
  /** The function's clock minus the database's now(), at the start of its last run. */
  clockSkewSeconds: Gauge<'function'>;
}

const PREFIX = 'devenv_lifecycle_';

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    runs: new Counter({
      name: `${PREFIX}runs_total`,
      help: 'Function runs by trigger and outcome',
      labelNames: ['function', 'trigger', 'outcome'],
      registers,
    }),
    runDurationSeconds: new Histogram({
      name: `${PREFIX}run_duration_seconds`,
      help: 'Wall time of one run, from request to answer',
      labelNames: ['function', 'trigger'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    actions: new Counter({
      name: `${PREFIX}actions_total`,
      help: 'Actions taken by functions, by kind and outcome',
      labelNames: ['function', 'kind', 'outcome'],
      registers,
    }),
    foreignObjects: new Counter({
      name: `${PREFIX}foreign_objects_total`,
      help: 'Objects with the expected name that do not provably belong to the entity being torn down, left alone',
      labelNames: ['function', 'kind', 'owner'],
      registers,
    }),
    outboxBacklog: new Gauge({
      name: `${PREFIX}outbox_backlog`,
      help: 'Events written to the outbox and not yet delivered',
      registers,
    }),
    outboxDeadLetters: new Gauge({
      name: `${PREFIX}outbox_dead_letters`,
      help: 'Events that can never be delivered, waiting in the dead-letter state for an operator',
      registers,
    }),
    eventsDeadLettered: new Counter({
      name: `${PREFIX}events_dead_lettered_total`,
      help: 'Events moved to the dead-letter state, by reason',
      labelNames: ['reason'],
      registers,
    }),
    warningsSent: new Counter({
      name: `${PREFIX}warnings_sent_total`,
      help: 'Expiry warnings delivered, by level in minutes',
      labelNames: ['level'],
      registers,
    }),
    podNamespaceMissing: new Counter({
      name: `${PREFIX}pod_namespace_missing_total`,
      help: 'Pod reads refused as evidence because the namespace does not exist, by namespace',
      labelNames: ['namespace'],
      registers,
    }),
    oomKills: new Counter({
      name: `${PREFIX}oom_kills_total`,
      help: 'Out-of-memory kills recorded (each kill once)',
      registers,
    }),
    snapshots: new Counter({
      name: `${PREFIX}snapshots_total`,
      help: 'Snapshots that reached a state',
      labelNames: ['state'],
      registers,
    }),
    railHalts: new Counter({
      name: `${PREFIX}rail_halts_total`,
      help: 'Runs halted by a safety rail (nothing destructive done), by function and rail (breaker, clock)',
      labelNames: ['function', 'rail'],
      registers,
    }),
    clockSkewSeconds: new Gauge({
      name: `${PREFIX}clock_skew_seconds`,
      help: "The function's clock minus the database's now(), at the start of its last run",
      labelNames: ['function'],
      registers,
    }),
  };
}
