/*
 * expire's set-based executor: one commit per batch holds, in one statement for all its rows, the
 * batch's compare-and-set transitions, their decision-log entries and the events of the ends that
 * applied (outbox rows), plus, with the first batch, the pod observations the run made (the plan's
 * upkeep). A compare-and-set that matches nothing is a conflict (an extension or another runner
 * won), not a failure. A batch that throws is split and retried by the kernel, so one bad row costs
 * only itself.
 */
import type { Db } from '../../shared/db/pool.js';
import { recordObservations } from '../../shared/db/queries/pod-observations.js';
import { endReservationsLogged } from '../../shared/db/queries/reservations.js';
import type { EndRequest } from '../../shared/db/queries/reservations.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import type { ActionResult } from '../../shared/runtime/execute.js';
import type { Committed, Run } from '../../shared/runtime/run.js';
import type { EndAction, SeenPod } from './decide.js';
import type { ExpireDeps } from './load.js';

/*
 * Transitions per commit. The same writes for 1,000 rows as one statement take about as long per
 * row as for 100 (bench/warn-expire-outbox.ts), while every batch adds its round trips; a batch
 * that fails is halved by the kernel, so one bad row among 1,000 costs about 20 extra commits.
 */
export const BATCH_SIZE = 1000;

const COUNTER: Record<EndAction['kind'], string> = {
  expire: 'expired',
  'expire-pod-gone': 'expired_pod_gone',
  'fail-dead-pod': 'failed_dead_pod',
  'fail-stuck-preparing': 'failed_stuck_preparing',
  'cancel-stale': 'stale_cancelled',
};

/** Results in the order of `actions`; throws (the kernel splits and retries) when the commit fails. */
export function executeExpire(
  run: Run,
  actions: EndAction[],
  _deps: ExpireDeps,
  seen: readonly SeenPod[] = [],
): Promise<ActionResult[]> {
  return run.commit((db) => write(db, run, actions, seen));
}

async function write(
  db: Db,
  run: Run,
  actions: EndAction[],
  seen: readonly SeenPod[],
): Promise<Committed<ActionResult[]>> {
  const now = run.now();
  await recordObservations(db, [...seen], now);
  // Each end's event is made before the statement and written by it only if the end applied: the
  // compare-and-set holds the row to what the event announces, so one round trip does it all.
  const planned = actions.map((action) => {
    const request = toRequest(action, now);
    const decided = { ...request, action: action.kind, inputs: action.inputs };
    return { id: action.reservationId, request: decided, event: endedEvent(action, request) };
  });
  const ended = new Set(
    await endReservationsLogged(
      db,
      planned.map(({ request }) => request),
      { runId: run.scope.runId, fn: run.fn, decidedAt: now },
      run.outboxRecords(planned.map(({ event }) => event)),
    ),
  );
  const value = actions.map((action): ActionResult =>
    ended.has(action.reservationId)
      ? { outcome: 'applied', counters: [COUNTER[action.kind]] }
      : { outcome: 'conflict', counters: ['conflicts'] },
  );
  return { value, staged: planned.filter(({ id }) => ended.has(id)).map(({ event }) => event) };
}

function toRequest(action: EndAction, now: Date): EndRequest {
  const base = { reservationId: action.reservationId, reason: action.reason, now, announced: action.announced };
  switch (action.kind) {
    case 'expire':
      return {
        ...base,
        from: 'active',
        to: 'expired',
        expectedExpiresAt: action.expectedExpiresAt,
        recordReason: false,
      };
    case 'expire-pod-gone':
      return {
        ...base,
        from: 'active',
        to: 'expired',
        expectedExpiresAt: action.expectedExpiresAt,
        recordReason: true,
      };
    case 'fail-dead-pod':
      return { ...base, from: 'active', to: 'failed', expectedExpiresAt: action.expectedExpiresAt, recordReason: true };
    case 'fail-stuck-preparing':
      return {
        ...base,
        from: 'preparing',
        to: 'failed',
        expectedStatusChangedAt: action.expectedStatusChangedAt,
        recordReason: true,
      };
    case 'cancel-stale':
      return {
        ...base,
        from: action.expectedStatus,
        to: 'cancelled',
        expectedStatusChangedAt: action.expectedStatusChangedAt,
        recordReason: true,
      };
  }
}

const EVENT_FOR = {
  expired: EventTypes.reservationExpired,
  failed: EventTypes.reservationFailed,
  cancelled: EventTypes.reservationCancelled,
} as const;

function endedEvent(action: EndAction, request: EndRequest) {
  const data = {
    reservationId: action.reservationId,
    previousStatus: request.from as 'active' | 'preparing' | 'queued' | 'pending',
    reason: action.reason,
    podName: action.announced.podName,
    namespace: action.announced.namespace,
    expiresAt: action.announced.expiresAt?.toISOString() ?? null,
    endedAt: request.now.toISOString(),
  };
  return buildEvent(EVENT_FOR[request.to], data, {
    source: sourceFor('expire'),
    subject: action.reservationId,
    time: request.now,
  });
}
