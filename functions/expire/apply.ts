/*
 * Carry out expire's end actions: each one a compare-and-set on the state that justified it, with
 * its event staged and its decision logged in the same transaction. A compare-and-set that matches
 * nothing is a conflict (an extension or another runner won), not a failure.
 */
import type pg from 'pg';
import { appendDecisions } from '../../shared/db/queries/decisions.js';
import type { DecisionOutcome } from '../../shared/db/queries/decisions.js';
import { endReservation } from '../../shared/db/queries/reservations.js';
import type { EndRequest, ReservationRow } from '../../shared/db/queries/reservations.js';
import { withTransaction } from '../../shared/db/transaction.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import type { RunScope } from '../../shared/runtime/run-scope.js';
import type { EndAction } from './decide.js';

export type ApplyOutcome = 'applied' | 'conflict' | 'failed' | 'dry_run';

export async function applyEnd(pool: pg.Pool, scope: RunScope, action: EndAction): Promise<{ outcome: ApplyOutcome; error?: string }> {
  const request = toRequest(action, scope.now());
  if (scope.dryRun) return { outcome: 'dry_run' };
  try {
    return await withTransaction(pool, async (client) => {
      const ended = await endReservation(client, request);
      const outcome: DecisionOutcome = ended ? 'applied' : 'conflict';
      if (ended) await scope.stage(client, [endedEvent(ended, request)]);
      await appendDecisions(client, [decision(scope, action, outcome)], scope.now());
      return { outcome };
    });
  } catch (err) {
    const error = coerceError(err).message;
    await appendDecisions(pool, [{ ...decision(scope, action, 'failed'), error }], scope.now()).catch(() => undefined);
    return { outcome: 'failed', error };
  }
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
