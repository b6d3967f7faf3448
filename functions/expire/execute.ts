/*
 * expire's set-based executor: one commit per batch holds the batch's compare-and-set transitions
 * (one UPDATE for all its rows), their events (one INSERT into the outbox), their decisions (one
 * INSERT into the decision log) and, with the first batch, the pod observations the run made. A
 * compare-and-set that matches nothing is a conflict (an extension or another runner won), not a
 * failure. If a batch fails, its parts are retried on their own, so one bad row costs only itself.
 */
import type { Db } from '../../shared/db/pool.js';
import { recordObservations } from '../../shared/db/queries/pod-observations.js';
import { endReservations } from '../../shared/db/queries/reservations.js';
import type { EndRequest, ReservationRow } from '../../shared/db/queries/reservations.js';
import { buildEvent, sourceFor } from '../../shared/events/build.js';
import { EventTypes } from '../../shared/events/types.js';
import { coerceError } from '../../shared/errors.js';
import type { ActionResult } from '../../shared/runtime/execute.js';
import { DuplicateDelivery } from '../../shared/runtime/run.js';
import type { Committed, DecisionEntry, Run } from '../../shared/runtime/run.js';
import type { EndAction, ExpireAction, RecordObservation } from './decide.js';
import type { ExpireDeps } from './load.js';

// Transitions per transaction: set-based, yet a batch that fails costs little to retry one by one.
export const BATCH_SIZE = 100;

const COUNTER: Record<EndAction['kind'], string> = {
  expire: 'expired',
  'expire-pod-gone': 'expired_pod_gone',
  'fail-dead-pod': 'failed_dead_pod',
  'fail-stuck-preparing': 'failed_stuck_preparing',
  'cancel-stale': 'stale_cancelled',
};

const isRecord = (action: ExpireAction): action is RecordObservation => action.kind === 'record-observation';

/** Results in the order of `actions`. */
export async function executeExpire(run: Run, actions: ExpireAction[], _deps: ExpireDeps): Promise<ActionResult[]> {
  const whole = await attempt(run, actions);
  if (whole !== 'failed' || actions.length === 1) return whole === 'failed' ? failed(run, actions, lastError.get(run)) : whole;
  // One bad row must not cost the others: the observations together, then each transition alone.
  const records = actions.filter(isRecord);
  const parts = [records, ...actions.filter((action) => !isRecord(action)).map((action) => [action])].filter((part) => part.length > 0);
  const results = new Map<ExpireAction, ActionResult>();
  for (const part of parts) {
    const settled = await attempt(run, part);
    const answers = settled === 'failed' ? await failed(run, part, lastError.get(run)) : settled;
    part.forEach((action, index) => results.set(action, answers[index]!));
  }
  return actions.map((action) => results.get(action)!);
}

const lastError = new WeakMap<Run, string>();
// A duplicate delivery was done in full by the run that recorded it: counted once, nothing done.
const duplicates = new WeakSet<Run>();

async function attempt(run: Run, actions: ExpireAction[]): Promise<ActionResult[] | 'failed'> {
  try {
    return await run.commit((db) => write(db, run, actions));
  } catch (err) {
    if (err instanceof DuplicateDelivery) return duplicate(run, actions);
    lastError.set(run, coerceError(err).message);
    return 'failed';
  }
}

async function write(db: Db, run: Run, actions: ExpireAction[]): Promise<Committed<ActionResult[]>> {
  const now = run.now();
  const records = actions.filter(isRecord);
  await recordObservations(db, records.map((record) => ({ reservationId: record.reservationId, kind: record.observation, ...(record.error ? { error: record.error } : {}) })), now);
  const ends = actions.filter((action): action is EndAction => !isRecord(action));
  const requests = new Map(ends.map((action) => [action, toRequest(action, now)]));
  const ended = new Map((await endReservations(db, [...requests.values()])).map((row) => [row.reservation_id, row]));
  const events = ends.flatMap((action) => {
    const row = ended.get(action.reservationId);
    return row ? [endedEvent(row, requests.get(action)!)] : [];
  });
  const decisions = ends.map((action): DecisionEntry => ({
    entityKind: 'reservation',
    entityId: action.reservationId,
    action: action.kind,
    reason: action.reason,
    inputs: action.inputs,
    outcome: ended.has(action.reservationId) ? 'applied' : 'conflict',
  }));
  const value = actions.map((action): ActionResult => {
    if (isRecord(action)) return { outcome: 'applied', metrics: [] };
    return ended.has(action.reservationId) ? { outcome: 'applied', counters: [COUNTER[action.kind]] } : { outcome: 'conflict', counters: ['conflicts'] };
  });
  return { value, decisions, events };
}

function duplicate(run: Run, actions: ExpireAction[]): ActionResult[] {
  const first = !duplicates.has(run);
  duplicates.add(run);
  return actions.map((_, index) => ({ outcome: 'skipped', metrics: [], ...(first && index === 0 ? { counters: ['duplicate_events'] } : {}) }));
}

/** A part that failed on its own: kept in the decision log (best effort) and retried by a later run. */
async function failed(run: Run, actions: ExpireAction[], error = 'the batch failed'): Promise<ActionResult[]> {
  run.log.error({ error, reservationIds: actions.map((action) => action.reservationId) }, 'expire could not apply; a later run retries');
  const ends = actions.filter((action): action is EndAction => !isRecord(action));
  await run.record(ends.map((action) => ({ entityKind: 'reservation', entityId: action.reservationId, action: action.kind, reason: action.reason, inputs: action.inputs, outcome: 'failed', error })));
  return actions.map((action) => ({
    outcome: 'failed',
    counters: ['actions_failed'],
    ...(isRecord(action) ? { metrics: [] } : {}),
    failure: `${action.kind} ${action.reservationId}: ${error}`,
  }));
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
