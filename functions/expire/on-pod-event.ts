/*
 * expire's fast path: a pod-change event (Knative ApiServerSource or our pod-watch source) about a
 * reservation's pod. The event is only a trigger: the evidence is a fresh read of the pod by name,
 * so a stale or replayed event can never end a live reservation.
 */
import { absentSinceFor, recordObservations } from '../../shared/db/queries/pod-observations.js';
import { activeReservationForPod } from '../../shared/db/queries/reservations.js';
import type { ParsedEvent } from '../../shared/events/parse.js';
import { EventTypes } from '../../shared/events/types.js';
import { summarizePod } from '../../shared/pod-summary.js';
import type { RunReport, RunScope } from '../../shared/runtime/run-scope.js';
import { decide } from './decide.js';
import { observePods } from './observe.js';
import { execute, podTarget, toActive } from './run.js';
import type { ExpireDeps } from './run.js';

export async function onPodEvent(scope: RunScope, deps: ExpireDeps, event: ParsedEvent): Promise<RunReport> {
  if (!(await scope.claimEvent(deps.pool))) {
    return { summary: { duplicate_events: 1 }, failures: [] };
  }
  const { policy } = deps.config;
  const pod = summarizePod(event.data as Parameters<typeof summarizePod>[0]);
  const reservationId = pod.labels?.[policy.reservationLabel];
  const row = await activeReservationForPod(deps.pool, { reservationId, namespace: pod.namespace, podName: pod.name }, policy.reservationNamespace);
  const target = row && podTarget(row, policy.reservationNamespace);
  // The event speaks of one pod in one namespace: it is about the row only if both match the row.
  if (!row || !target || row.expires_at === null || target.podName !== pod.name || target.namespace !== pod.namespace) {
    return { summary: { ignored_events: 1 }, failures: [] };
  }
  const now = scope.now();
  const pods = await observePods(deps.pods, [target], { label: policy.reservationLabel, concurrency: 1 });
  const observation = pods.get(row.reservation_id)!;
  if (!scope.dryRun) {
    const error = observation.kind === 'unknown' ? { error: observation.error } : {};
    await recordObservations(deps.pool, [{ reservationId: row.reservation_id, kind: observation.kind, ...error }], now);
  }
  const decision = decide({
    now,
    active: [toActive(row)],
    waiting: [],
    pods,
    absentSince: await absentSinceFor(deps.pool, [row.reservation_id]),
    deletedByEvent: event.type === EventTypes.podDeleted ? new Set([row.reservation_id]) : new Set(),
    policy: { ...policy, maxItems: scope.maxItems },
  });
  return execute(scope, deps, decision, { pod_events: 1 });
}
