/*
 * expire's shell: load what is due (indexed, bounded), observe the pods of a rotating slice of
 * active reservations, decide, then apply the transitions in set-based batches, each a
 * compare-and-set per row. Deadlines go first; the run stops starting new batches when its time
 * budget is spent.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { recordObservations, reservationsToCheck } from '../../shared/db/queries/pod-observations.js';
import type { CheckCandidate } from '../../shared/db/queries/pod-observations.js';
import { activeWithoutDeadline, countOverdue, overdueReservations, overdueWaiting } from '../../shared/db/queries/reservations.js';
import type { ReservationRow } from '../../shared/db/queries/reservations.js';
import type { PodReader } from '../../shared/pods.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { applyEnds } from './apply.js';
import { decide } from './decide.js';
import type { ActiveReservation, EndAction, ExpireDecision, ExpireInput, PodObservation, WaitingReservation } from './decide.js';
import { observePods } from './observe.js';

export interface ExpireDeps {
  pool: pg.Pool;
  pods: PodReader;
  config: Config;
  metrics: Metrics;
}

export async function sweep(scope: RunScope, deps: ExpireDeps): Promise<RunReport> {
  const { policy } = deps.config;
  const now = scope.now();
  const limit = scope.maxItems + 1;
  const waitLimits = { preparingMinutes: policy.preparingTimeoutMinutes, queueHours: policy.queueTimeoutHours };
  const [overdue, waiting, noDeadline, checkable] = await Promise.all([
    overdueReservations(deps.pool, now, policy.gracePeriodSeconds, limit),
    overdueWaiting(deps.pool, now, waitLimits, limit),
    activeWithoutDeadline(deps.pool, 100),
    reservationsToCheck(deps.pool, policy.podCheckBatch),
  ]);
  const targets = checkable.map((row) => podTarget(row, policy.reservationNamespace));
  const pods = await observePods(deps.pods, targets, { label: policy.reservationLabel, concurrency: deps.config.run.concurrency });
  if (!scope.dryRun) await recordObservations(deps.pool, observationsOf(pods), now);
  const input: ExpireInput = {
    now,
    active: uniqueActive([...overdue, ...checkable]),
    waiting: waiting.map(toWaiting),
    pods,
    absentSince: absenceMap(checkable),
    policy: { ...policy, mainContainer: policy.mainContainer, maxItems: scope.maxItems },
  };
  const decision = decide(input);
  // The reads stop at maxItems + 1: when one is full, the rows it did not return are due too.
  if (overdue.length === limit || waiting.length === limit) {
    const due = await countOverdue(deps.pool, now, policy.gracePeriodSeconds, waitLimits, BACKLOG_COUNT_CAP);
    decision.deferred += Math.max(0, due.active - overdueAmong(input)) + Math.max(0, due.waiting - waiting.length);
  }
  if (noDeadline.length > 0) scope.log.warn({ reservationIds: noDeadline }, 'active reservations without expires_at skipped');
  return execute(scope, deps, decision, { skipped_null_expiry: noDeadline.length, pods_checked: checkable.length, pods_unknown: countKind(pods, 'unknown') });
}

// Enough to say how far behind a run is without counting a whole table.
const BACKLOG_COUNT_CAP = 100_000;

/** Overdue rows the run saw (read as overdue, or among the checked ones), as decide judges them. */
function overdueAmong(input: ExpireInput): number {
  const cutoff = input.now.getTime() - input.policy.gracePeriodSeconds * 1000;
  return input.active.filter((row) => row.expiresAt !== null && row.expiresAt.getTime() < cutoff).length;
}

// Transitions per transaction: set-based, yet a batch that fails costs little to retry one by one.
const BATCH = 100;

export async function execute(scope: RunScope, deps: ExpireDeps, decision: ExpireDecision, extra: Record<string, number>): Promise<RunReport> {
  const summary: Record<string, number> = { expired: 0, expired_pod_gone: 0, failed_dead_pod: 0, failed_stuck_preparing: 0, stale_cancelled: 0, conflicts: 0, deferred: decision.deferred, ...extra };
  const failures: string[] = [];
  const items: NonNullable<RunReport['items']> = [];
  for (let start = 0; start < decision.ends.length; start += BATCH) {
    const batch = decision.ends.slice(start, start + BATCH);
    if (scope.now() >= scope.deadline) {
      summary.deferred = (summary.deferred ?? 0) + batch.length;
      continue;
    }
    const results = await applyEnds(deps.pool, scope, batch);
    batch.forEach((action, index) => {
      const result = results[index]!;
      deps.metrics.actions.inc({ function: 'expire', kind: action.kind, outcome: result.outcome });
      if (result.outcome === 'applied') summary[COUNTER[action.kind]] = (summary[COUNTER[action.kind]] ?? 0) + 1;
      if (result.outcome === 'conflict') summary.conflicts = (summary.conflicts ?? 0) + 1;
      if (result.outcome === 'failed') failures.push(`${action.kind} ${action.reservationId}: ${result.error}`);
      if (result.outcome === 'dry_run') items.push({ reservationId: action.reservationId, action: action.kind, reason: action.reason });
    });
  }
  return { summary, failures, ...(scope.dryRun ? { items } : {}) };
}

const COUNTER: Record<EndAction['kind'], string> = {
  expire: 'expired',
  'expire-pod-gone': 'expired_pod_gone',
  'fail-dead-pod': 'failed_dead_pod',
  'fail-stuck-preparing': 'failed_stuck_preparing',
  'cancel-stale': 'stale_cancelled',
};

export function podTarget(row: ReservationRow, defaultNamespace: string) {
  return { reservationId: row.reservation_id, namespace: row.namespace ?? defaultNamespace, podName: row.pod_name ?? '' };
}

export function toActive(row: ReservationRow): ActiveReservation {
  return { reservationId: row.reservation_id, expiresAt: row.expires_at, launchedAt: row.launched_at, statusChangedAt: row.status_changed_at, podName: row.pod_name };
}

function uniqueActive(rows: ReservationRow[]): ActiveReservation[] {
  return [...new Map(rows.map((row) => [row.reservation_id, toActive(row)])).values()];
}

function toWaiting(row: ReservationRow): WaitingReservation {
  return { reservationId: row.reservation_id, status: row.status as WaitingReservation['status'], statusChangedAt: row.status_changed_at };
}

function absenceMap(rows: CheckCandidate[]): Map<string, Date> {
  return new Map(rows.flatMap((row) => (row.absent_since ? [[row.reservation_id, row.absent_since] as const] : [])));
}

function observationsOf(pods: Map<string, PodObservation>) {
  return [...pods].map(([reservationId, observation]) => ({
    reservationId,
    kind: observation.kind,
    ...(observation.kind === 'unknown' ? { error: observation.error } : {}),
  }));
}

function countKind(pods: Map<string, PodObservation>, kind: PodObservation['kind']): number {
  return [...pods.values()].filter((observation) => observation.kind === kind).length;
}
