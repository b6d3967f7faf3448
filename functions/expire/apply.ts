/*
 * Carry out expire's end actions: each one a compare-and-set on the state that justified it, with
 * its event staged and its decision logged in the same transaction, a batch at a time. A compare-and-set that matches
 * nothing is a conflict (an extension or another runner won), not a failure.
 */
import type pg from 'pg';
import type { Db } from '../../shared/db/pool.js';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import type { DecisionOutcome } from '../../shared/db/queries/decisions.js';
import { endReservations } from '../../shared/db/queries/reservations.js';
import type { EndRequest, ReservationRow } from '../../shared/db/queries/reservations.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import type { RunScope } from '../../shared/runtime/run-scope.js';
import type { EndAction } from './decide.js';

export type ApplyOutcome = 'applied' | 'conflict' | 'failed' | 'dry_run';

export interface ApplyResult {
  outcome: ApplyOutcome;
  error?: string;
}

/**
 * Apply a batch in one transaction: one set-based compare-and-set, the events of the rows that
 * changed, one decision per action. If the batch fails, each action is retried on its own, so one
 * bad row costs only itself. Results come back in the order of `actions`.
 */
export async function applyEnds(pool: pg.Pool, scope: RunScope, actions: EndAction[]): Promise<ApplyResult[]> {
  if (scope.dryRun) return actions.map(() => ({ outcome: 'dry_run' }));
  try {
    return await withTransaction(pool, (client) => endAll(client, scope, actions));
  } catch (err) {
    if (actions.length > 1) return (await Promise.all(actions.map((action) => applyEnds(pool, scope, [action])))).flat();
    const error = coerceError(err).message;
    await appendDecisions(pool, [{ ...decision(scope, actions[0]!, 'failed'), error }], scope.now()).catch(() => undefined);
    return [{ outcome: 'failed', error }];
  }
}

async function endAll(client: Db, scope: RunScope, actions: EndAction[]): Promise<ApplyResult[]> {
  const requests = actions.map((action) => toRequest(action, scope.now()));
  const ended = new Map((await endReservations(client, requests)).map((row) => [row.reservation_id, row]));
  const events = requests.flatMap((request) => {
    const row = ended.get(request.reservationId);
    return row ? [endedEvent(row, request)] : [];
  });
  if (events.length > 0) await scope.stage(client, events);
  const outcomes = actions.map((action): DecisionOutcome => (ended.has(action.reservationId) ? 'applied' : 'conflict'));
  await appendDecisions(client, actions.map((action, index) => decision(scope, action, outcomes[index]!)), scope.now());
  return outcomes.map((outcome) => ({ outcome: outcome as ApplyOutcome }));
}

function toRequest(action: EndAction, now: Date): EndRequest {
  const base = { reservationId: action.reservationId, reason: action.reason, now };
  switch (action.kind) {
    case 'expire':
      return { ...base, from: 'active', to: 'expired', expectedExpiresAt: action.expectedExpiresAt, recordReason: false };
    case 'expire-pod-gone':
      return { ...base, from: 'active', to: 'expired', expectedExpiresAt: action.expectedExpiresAt, recordReason: true };
    case 'fail-dead-pod':
      return { ...base, from: 'active', to: 'failed', expectedExpiresAt: action.expectedExpiresAt, recordReason: true };
    case 'fail-stuck-preparing':
      return { ...base, from: 'preparing', to: 'failed', expectedStatusChangedAt: action.expectedStatusChangedAt, recordReason: true };
    case 'cancel-stale':
      return { ...base, from: action.expectedStatus, to: 'cancelled', expectedStatusChangedAt: action.expectedStatusChangedAt, recordReason: true };
  }
}

const EVENT_FOR = {
  expired: EventTypes.reservationExpired,
  failed: EventTypes.reservationFailed,
  cancelled: EventTypes.reservationCancelled,
} as const;

function endedEvent(row: ReservationRow, request: EndRequest) {
  const data = {
    reservationId: row.reservation_id,
    previousStatus: request.from as 'active' | 'preparing' | 'queued' | 'pending',
    reason: request.reason,
    podName: row.pod_name,
    namespace: row.namespace,
    expiresAt: row.expires_at?.toISOString() ?? null,
    endedAt: request.now.toISOString(),
  };
  return buildEvent(EVENT_FOR[request.to], data, { source: sourceFor('expire'), subject: row.reservation_id, time: request.now });
}

function decision(scope: RunScope, action: EndAction, outcome: DecisionOutcome) {
  return {
    runId: scope.runId,
    fn: 'expire',
    entityKind: 'reservation' as const,
    entityId: action.reservationId,
    action: action.kind,
    reason: action.reason,
    inputs: inputsOf(action),
    outcome,
  };
}

function inputsOf(action: EndAction): Record<string, unknown> {
  if ('expectedExpiresAt' in action) return { expiresAt: action.expectedExpiresAt.toISOString() };
  return { statusChangedAt: action.expectedStatusChangedAt.toISOString() };
}
