/*
 * expire's reads, all read-only. A sweep gathers what is due through the partial indexes (bounded
 * at maxItems + 1, with a capped count when a read is full) and the pods of a rotating slice of
 * active reservations; a pod-change event reads the one reservation it is about. The event is only
 * a trigger: the evidence is a fresh read of the pod by name, so a stale or replayed event can
 * never end a live reservation.
 */
import type pg from 'pg';
import type { Config } from '../../shared/config.js';
import { absentSinceFor, reservationsToCheck } from '../../shared/db/queries/pod-observations.js';
import type { CheckCandidate } from '../../shared/db/queries/pod-observations.js';
import {
  activeReservationForPod,
  activeWithoutDeadline,
  countOverdue,
  overdueReservations,
  overdueWaiting,
} from '../../shared/db/queries/reservations.js';
import type { CandidateRow } from '../../shared/db/queries/reservations.js';
import type { ParsedEvent } from '../../shared/events/parse.js';
import { EventTypes } from '../../shared/events/types.js';
import { podEvidence } from '../../shared/kube/pod-evidence.js';
import type { PodTarget } from '../../shared/kube/pod-evidence.js';
import { summarizePod } from '../../shared/kube/pod-summary.js';
import type { PodReader } from '../../shared/kube/pods.js';
import type { KernelDeps, LoadInput } from '../../shared/runtime/define-function.js';
import type { BaseOptions } from '../../shared/runtime/invocation.js';
import type { Metrics } from '../../shared/runtime/metrics.js';
import type { Run } from '../../shared/runtime/run.js';
import type { ActiveReservation, ExpireLoad, ExpirePolicy, WaitingReservation } from './decide.js';

export interface ExpireDeps extends KernelDeps {
  pool: pg.Pool;
  pods: PodReader;
  config: Config;
  metrics: Metrics;
}

// Enough to say how far behind a run is without counting a whole table.
const BACKLOG_COUNT_CAP = 100_000;

export function loadExpire({ run, deps, invocation, limit }: LoadInput<BaseOptions, ExpireDeps>): Promise<ExpireLoad> {
  return invocation.kind === 'event' ? loadPodEvent(deps, invocation.event) : loadSweep(run, deps, limit + 1);
}

/** `limit`: one more than the run may act on, so a full read says more wait. */
async function loadSweep(run: Run, deps: ExpireDeps, limit: number): Promise<ExpireLoad> {
  const { policy } = deps.config;
  const now = run.now();
  const waitLimits = { preparingMinutes: policy.preparingTimeoutMinutes, queueHours: policy.queueTimeoutHours };
  const [overdue, waiting, noDeadline, checkable] = await Promise.all([
    overdueReservations(deps.pool, now, policy.gracePeriodSeconds, limit),
    overdueWaiting(deps.pool, now, waitLimits, limit),
    activeWithoutDeadline(deps.pool, 100),
    reservationsToCheck(deps.pool, policy.podCheckBatch),
  ]);
  const targets = checkable.map((row) => podTarget(row, policy.reservationNamespace));
  const pods = await podEvidence(deps.pods, targets, {
    label: policy.reservationLabel,
    concurrency: deps.config.run.concurrency,
  });
  // When a read is full, the rows it did not return are due too: count them (capped).
  const full = overdue.length === limit || waiting.length === limit;
  const due = full
    ? await countOverdue(deps.pool, now, policy.gracePeriodSeconds, waitLimits, BACKLOG_COUNT_CAP)
    : undefined;
  if (noDeadline.length > 0)
    run.log.warn({ reservationIds: noDeadline }, 'active reservations without expires_at skipped');
  const unknown = [...pods.values()].filter((seen) => seen.kind === 'unknown').length;
  return {
    active: uniqueActive([...overdue, ...checkable]),
    waiting: waiting.map(toWaiting),
    pods,
    absentSince: absenceMap(checkable),
    ...(due ? { due } : {}),
    counts: { skipped_null_expiry: noDeadline.length, pods_checked: checkable.length, pods_unknown: unknown },
    policy: policyOf(deps.config),
  };
}

async function loadPodEvent(deps: ExpireDeps, event: ParsedEvent): Promise<ExpireLoad> {
  const { policy } = deps.config;
  const pod = summarizePod(event.data as Parameters<typeof summarizePod>[0]);
  const reservationId = pod.labels?.[policy.reservationLabel];
  const row = await activeReservationForPod(
    deps.pool,
    { reservationId, namespace: pod.namespace, podName: pod.name },
    policy.reservationNamespace,
  );
  const target = row && podTarget(row, policy.reservationNamespace);
  // The event speaks of one pod in one namespace: it is about the row only if both match the row.
  if (!row || !target || row.expires_at === null || target.podName !== pod.name || target.namespace !== pod.namespace) {
    return {
      active: [],
      waiting: [],
      pods: new Map(),
      absentSince: new Map(),
      counts: { ignored_events: 1 },
      policy: policyOf(deps.config),
    };
  }
  return {
    active: [toActive(row)],
    waiting: [],
    pods: await podEvidence(deps.pods, [target], { label: policy.reservationLabel, concurrency: 1 }),
    absentSince: await absentSinceFor(deps.pool, [row.reservation_id]),
    deletedByEvent: new Set(event.type === EventTypes.podDeleted ? [row.reservation_id] : []),
    counts: { pod_events: 1 },
    policy: policyOf(deps.config),
  };
}

function policyOf(config: Config): ExpirePolicy {
  const { policy } = config;
  return {
    gracePeriodSeconds: policy.gracePeriodSeconds,
    launchGraceMinutes: policy.launchGraceMinutes,
    podAbsentConfirmSeconds: policy.podAbsentConfirmSeconds,
    preparingTimeoutMinutes: policy.preparingTimeoutMinutes,
    queueTimeoutHours: policy.queueTimeoutHours,
    mainContainer: policy.mainContainer,
  };
}

function podTarget(row: CandidateRow, defaultNamespace: string): PodTarget {
  return {
    reservationId: row.reservation_id,
    namespace: row.namespace ?? defaultNamespace,
    podName: row.pod_name ?? '',
  };
}

function toActive(row: CandidateRow): ActiveReservation {
  return {
    reservationId: row.reservation_id,
    expiresAt: row.expires_at,
    launchedAt: row.launched_at,
    statusChangedAt: row.status_changed_at,
    podName: row.pod_name,
    namespace: row.namespace,
  };
}

function uniqueActive(rows: CandidateRow[]): ActiveReservation[] {
  return [...new Map(rows.map((row) => [row.reservation_id, toActive(row)])).values()];
}

function toWaiting(row: CandidateRow): WaitingReservation {
  return {
    reservationId: row.reservation_id,
    status: row.status as WaitingReservation['status'],
    statusChangedAt: row.status_changed_at,
    podName: row.pod_name,
    namespace: row.namespace,
    expiresAt: row.expires_at,
  };
}

function absenceMap(rows: CheckCandidate[]): Map<string, Date> {
  return new Map(rows.flatMap((row) => (row.absent_since ? [[row.reservation_id, row.absent_since] as const] : [])));
}
